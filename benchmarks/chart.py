"""Draws a run as a PNG: throughput and p99 relative to untraced, CPU per request.

matplotlib is the `bench` extra's; without it the chart is skipped and the
Markdown report still written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.summary import Row
from benchmarks.targets import BATCH_FLOOR, P99_FACTOR


def draw_chart(rows: Sequence[Row], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{row.label}  {row.path}" for row in rows]
    positions = list(range(len(rows)))[::-1]
    figure, (left, middle, right) = plt.subplots(
        1,
        3,
        figsize=(16, 0.42 * len(rows) + 1.8),
        sharey=True,
        gridspec_kw={"width_ratios": [1.3, 1, 1]},
    )
    ratios = [row.ratio if row.ratio is not None else 1.0 for row in rows]
    colours = [
        "#9e9e9e" if row.ratio is None else _ratio_colour(row.ratio) for row in rows
    ]
    left.barh(positions, ratios, color=colours)
    for y, row, value in zip(positions, rows, ratios, strict=True):
        text = "baseline" if row.ratio is None else f"{value:.2f}"
        left.text(value + 0.01, y, text, va="center", fontsize=8)
    left.axvline(1.0, color="#444444", linewidth=0.8)
    left.axvline(BATCH_FLOOR, color="#c62828", linewidth=0.8, linestyle="--")
    left.set_xlim(0, 1.25)
    left.set_yticks(positions, labels, fontsize=8)
    left.set_xlabel("requests/s relative to the untraced runs beside it")
    left.set_title(f"Throughput kept (dashed: {BATCH_FLOOR:.2f} target)", fontsize=10)

    p99 = [row.p99_ratio if row.p99_ratio is not None else 1.0 for row in rows]
    middle.barh(
        positions,
        p99,
        color=["#9e9e9e" if r.p99_ratio is None else "#8d6e63" for r in rows],
    )
    for y, value in zip(positions, p99, strict=True):
        middle.text(value + 0.05, y, f"{value:.1f}x", va="center", fontsize=8)
    middle.axvline(P99_FACTOR, color="#c62828", linewidth=0.8, linestyle="--")
    middle.set_xlim(0, max([*p99, P99_FACTOR]) * 1.2)
    middle.set_xlabel("p99 latency relative to untraced")
    middle.set_title(f"p99 latency (dashed: {P99_FACTOR:g}x target)", fontsize=10)

    cpu = [row.cpu_us_per_request for row in rows]
    right.barh(positions, cpu, color="#5c6bc0")
    for y, value in zip(positions, cpu, strict=True):
        right.text(value * 1.01, y, f"{value:,.0f}", va="center", fontsize=8)
    right.set_xlabel("CPU µs per request (service process, all threads)")
    right.set_title("CPU per request", fontsize=10)
    right.set_xlim(0, max(cpu) * 1.18 if cpu else 1)

    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _ratio_colour(ratio: float) -> str:
    if ratio >= 0.70:
        return "#2e7d32"
    if ratio >= BATCH_FLOOR:
        return "#9ccc65"
    if ratio >= 0.40:
        return "#ffb300"
    return "#e53935"

"""Writes a run as Markdown: the table, the targets, the machine, the date."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from benchmarks.breakdown import render_breakdown
from benchmarks.machine import Machine
from benchmarks.outage_memory import OutageMemory
from benchmarks.runner import Plan
from benchmarks.summary import Row
from benchmarks.targets import Verdict, evaluate

COLUMNS = (
    "configuration",
    "endpoint",
    "req/s",
    "ratio to untraced",
    "p50 ms",
    "p99 ms",
    "p99 vs untraced",
    "CPU µs/req",
    "peak RSS MiB",
    "spans received / expected",
    "other load on core 0",
)


@dataclass(frozen=True)
class RunContext:
    command: str
    plan: Plan
    started: datetime
    finished: datetime
    load_before: float
    load_after: float
    machine: Machine
    pinning: str


def results_table(rows: Sequence[Row]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        cells = (
            row.label,
            f"`{row.path}`",
            f"{row.requests_per_second:,.0f}",
            "—" if row.ratio is None else f"**{row.ratio:.2f}**",
            f"{row.p50_ms:.1f}",
            f"{row.p99_ms:.1f}",
            "—" if row.p99_ratio is None else f"{row.p99_ratio:.1f}x",
            f"{row.cpu_us_per_request:,.0f}",
            f"{row.peak_rss_mib:.0f}",
            _spans(row),
            f"{row.foreign_cpu_share:.0%}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _spans(row: Row) -> str:
    if row.spans_received is None:
        return "—" if row.spans_expected == 0 else "not counted"
    text = f"{row.spans_received:,} / {row.spans_expected:,.0f}"
    if row.spans_lost:
        text += f" ({row.spans_lost:,} lost)"
    return text


def verdicts_table(verdicts: Sequence[Verdict]) -> str:
    lines = ["| target | measured | outcome |", "|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {v.outcome} |" for v in verdicts]
    return "\n".join(lines)


def render(
    rows: Sequence[Row],
    context: RunContext,
    outage: OutageMemory | None,
    bakes: Sequence[float],
) -> str:
    machine, plan = context.machine, context.plan
    packages = ", ".join(f"{name} {v}" for name, v in machine.packages.items())
    parts = [
        "# The cost of tracing: latest run",
        "",
        f"Run {context.started:%Y-%m-%d %H:%M} to {context.finished:%H:%M} UTC "
        f"with `{context.command}`.",
        "",
        "Each configuration runs as its own uvicorn process (one worker) and is "
        f"driven by {plan.load_tool} with {plan.connections} connections "
        f"for {plan.seconds:g} s after a {plan.warmup_seconds:g} s warm-up; "
        f"{plan.repetitions} repetition(s), configurations alternating within "
        "each, every traced run between two untraced ones. Figures are medians "
        "over the repetitions; a ratio is a traced run's requests per second ÷ "
        "the mean of the untraced runs just before and after it (median over the "
        "repetitions), so 1.00 means tracing costs nothing; p99 vs untraced is "
        "taken the same way. CPU µs/req is the service process's "
        "user + system time (all its threads) over the measured window divided by "
        "the requests answered; peak RSS is VmHWM (the pair: both processes). "
        "Spans expected = requests completed (warm-up included) × spans per "
        "request × sampling ratio; the receiver runs in its own process. The "
        "last column is the largest share of core 0 that other processes used "
        "during a measured window: above a few percent, that row's figures are "
        "disturbed.",
        "",
        results_table(rows),
        "",
        *_spread_lines(rows),
        "## Targets",
        "",
        verdicts_table(evaluate(rows, outage)),
        "",
    ]
    breakdown = render_breakdown(rows)
    if breakdown:
        parts += [breakdown, ""]
    if outage is not None:
        samples = ", ".join(f"{s:.0f}" for s in outage.samples_mib)
        parts += _section(
            "Memory with the collector down",
            f"{outage.configuration}, `{outage.path}` at full load for "
            f"{outage.seconds:.0f} s ({outage.requests_per_second:,.0f} req/s): "
            f"RSS {outage.rss_start_mib:.1f} MiB after warm-up, "
            f"{outage.rss_max_mib:.1f} MiB at most, {outage.rss_end_mib:.1f} MiB "
            f"at the end, growth {outage.growth_mib:.1f} MiB "
            f"(samples every 5 s: {samples}).",
        )
    if bakes:
        each = ", ".join(f"{s:.2f}" for s in bakes)
        parts += _section(
            "Generating one project",
            f"Median {statistics.median(bakes):.2f} s over {len(bakes)} bakes through "
            f"cookiecutter's Python API ({each} s).",
        )
    parts += [
        "## Machine",
        "",
        f"- CPU: {machine.cpu_model}, {machine.cores} cores; kernel "
        f"{machine.kernel}; Python {machine.python}",
        f"- {context.pinning}",
        f"- uvicorn's loop and HTTP parser: {machine.uvicorn_stack}; protobuf "
        f"backend: {machine.protobuf_backend}",
        f"- {packages}",
        f"- 1-minute load average: {context.load_before:.2f} at the start, "
        f"{context.load_after:.2f} at the end",
        "",
    ]
    return "\n".join(parts)


def _section(heading: str, text: str) -> list[str]:
    return [f"## {heading}", "", text, ""]


def _spread_lines(rows: Sequence[Row]) -> list[str]:
    """The untraced runs' range: the drift every ratio above had to see through."""
    untraced = [row for row in rows if not row.traced]
    if not untraced:
        return []
    ranges = "; ".join(
        f"{row.label} `{row.path}` {row.requests_per_second_range[0]:,.0f} to "
        f"{row.requests_per_second_range[1]:,.0f} req/s over {row.runs} runs"
        for row in untraced
    )
    return [
        "The machine's own speed drifts: the same untraced service measured "
        f"{ranges}. That is why each ratio is taken against the untraced runs "
        "just before and after it, never against a median from another minute.",
        "",
    ]

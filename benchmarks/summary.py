"""The figures: medians over repetitions, and ratios to the untraced runs beside
them (each within one repetition), so neither the machine's drift nor one slow
minute skews them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from benchmarks.runner import Measurement

Figure = Callable[[Measurement], float]
REQUESTS_PER_SECOND: Figure = attrgetter("load.requests_per_second")
P99_MS: Figure = attrgetter("load.p99_ms")
CPU_US_PER_REQUEST: Figure = attrgetter("cpu_us_per_request")


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    endpoint: str
    path: str
    traced: bool
    # Every run on this endpoint: a baseline's include one beside each traced run.
    runs: int
    requests_per_second: float
    # The slowest and the fastest run; for a baseline, the machine's drift.
    requests_per_second_range: tuple[float, float]
    ratio: float | None
    p50_ms: float
    p99_ms: float
    p99_ratio: float | None
    cpu_us_per_request: float
    # CPU per request ÷ the untraced runs' beside it, like `ratio` (median).
    cpu_ratio: float | None
    peak_rss_mib: float
    spans_received: int | None
    spans_expected: float
    # Spans missing at the receiver, summed over repetitions (never negative).
    spans_lost: int | None
    foreign_cpu_share: float


def summarize(measurements: Sequence[Measurement]) -> list[Row]:
    """One row per configuration and endpoint, in the order they first ran."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for measurement in measurements:
        key = (measurement.configuration.name, measurement.endpoint)
        groups.setdefault(key, []).append(measurement)
    rows = []
    for (_, endpoint), group in groups.items():
        baseline = group[0].configuration.baseline
        rows.append(
            _row(group, groups.get((baseline, endpoint), []) if baseline else [])
        )
    return rows


def _ratio(
    group: list[Measurement], baseline: list[Measurement], figure: Figure
) -> float | None:
    """The median over the runs of `figure` ÷ the mean of the baseline's runs
    just before and just after it, in the same repetition."""
    ratios = []
    for measurement in group:
        # The baseline's runs are listed in the order they ran.
        same = [b for b in baseline if b.repetition == measurement.repetition]
        before = [b for b in same if b.sequence < measurement.sequence][-1:]
        after = [b for b in same if b.sequence > measurement.sequence][:1]
        if before + after:
            denominator = statistics.mean(figure(b) for b in before + after)
            if denominator > 0:
                ratios.append(figure(measurement) / denominator)
    return statistics.median(ratios) if ratios else None


def _row(group: list[Measurement], baseline: list[Measurement]) -> Row:
    first = group[0]
    configuration = first.configuration
    rates = [REQUESTS_PER_SECOND(m) for m in group]
    counted = [m for m in group if m.spans_received is not None]
    received = sum(m.spans_received or 0 for m in counted) if counted else None
    # With sampling the expected count is an average, so nothing counts as lost.
    lost = (
        sum(max(0, round(m.spans_expected) - (m.spans_received or 0)) for m in counted)
        if counted and configuration.sampling == 1.0
        else None
    )
    return Row(
        name=configuration.name,
        label=configuration.label,
        endpoint=first.endpoint,
        path=first.path,
        traced=configuration.traced,
        runs=len(group),
        requests_per_second=statistics.median(rates),
        requests_per_second_range=(min(rates), max(rates)),
        ratio=_ratio(group, baseline, REQUESTS_PER_SECOND),
        p50_ms=statistics.median(m.load.p50_ms for m in group),
        p99_ms=statistics.median(P99_MS(m) for m in group),
        p99_ratio=_ratio(group, baseline, P99_MS),
        cpu_us_per_request=statistics.median(CPU_US_PER_REQUEST(m) for m in group),
        cpu_ratio=_ratio(group, baseline, CPU_US_PER_REQUEST),
        peak_rss_mib=statistics.median(m.peak_rss_mib for m in group),
        spans_received=received,
        spans_expected=sum(m.spans_expected for m in group),
        spans_lost=lost,
        foreign_cpu_share=max(m.foreign_cpu_share for m in group),
    )


def find(rows: Sequence[Row], name: str, endpoint: str) -> Row | None:
    for row in rows:
        if row.name == name and row.endpoint == endpoint:
            return row
    return None

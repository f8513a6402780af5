"""The figures: medians over repetitions, and ratios to the untraced runs beside them.

A ratio is taken within one repetition: the traced run's requests per second
divided by the mean of its baseline's runs just before and just after it
(same endpoint), and the median of those over the repetitions is reported, so
neither the machine's drift nor one slow minute skews it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from benchmarks.runner import Measurement


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    endpoint: str
    path: str
    repetitions: int
    requests_per_second: float
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
    errors: int
    foreign_cpu_share: float


def summarize(measurements: Sequence[Measurement]) -> list[Row]:
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for measurement in measurements:
        key = (measurement.configuration.name, measurement.endpoint)
        groups.setdefault(key, []).append(measurement)
    return [
        _row(group, _baseline_group(group, groups))
        for group in _ordered(groups, measurements)
    ]


def _ordered(
    groups: dict[tuple[str, str], list[Measurement]],
    measurements: Sequence[Measurement],
) -> list[list[Measurement]]:
    """Endpoint by endpoint, configurations in the order they ran."""
    endpoints = list(dict.fromkeys(m.endpoint for m in measurements))
    names = list(dict.fromkeys(m.configuration.name for m in measurements))
    return [
        groups[(name, endpoint)]
        for endpoint in endpoints
        for name in names
        if (name, endpoint) in groups
    ]


def _baseline_group(
    group: list[Measurement], groups: dict[tuple[str, str], list[Measurement]]
) -> list[Measurement] | None:
    first = group[0]
    if first.configuration.baseline is None:
        return None
    return groups.get((first.configuration.baseline, first.endpoint))


def _per_repetition_ratios(
    group: list[Measurement],
    baseline: list[Measurement],
    figure: Callable[[Measurement], float],
) -> list[float]:
    ratios = []
    for measurement in group:
        neighbours = _neighbours(measurement, baseline)
        if not neighbours:
            continue
        denominator = statistics.mean(figure(b) for b in neighbours)
        if denominator > 0:
            ratios.append(figure(measurement) / denominator)
    return ratios


def _neighbours(
    measurement: Measurement, baseline: list[Measurement]
) -> list[Measurement]:
    """The baseline's runs just before and just after, in the same repetition."""
    same = [b for b in baseline if b.repetition == measurement.repetition]
    before = [b for b in same if b.sequence < measurement.sequence]
    after = [b for b in same if b.sequence > measurement.sequence]
    nearest = []
    if before:
        nearest.append(max(before, key=lambda b: b.sequence))
    if after:
        nearest.append(min(after, key=lambda b: b.sequence))
    return nearest


def _row(group: list[Measurement], baseline: list[Measurement] | None) -> Row:
    first = group[0]
    ratio = p99_ratio = cpu_ratio = None
    if baseline:
        ratio = _median_or_none(
            _per_repetition_ratios(group, baseline, _requests_per_second)
        )
        p99_ratio = _median_or_none(_per_repetition_ratios(group, baseline, _p99))
        cpu_ratio = _median_or_none(
            _per_repetition_ratios(group, baseline, _cpu_per_request)
        )
    counted = [m for m in group if m.spans_received is not None]
    received = sum(m.spans_received or 0 for m in counted) if counted else None
    expected = sum(m.spans_expected for m in group)
    # With sampling the expected count is an average, so nothing counts as lost.
    lost = (
        sum(max(0, round(m.spans_expected) - (m.spans_received or 0)) for m in counted)
        if counted and first.configuration.sampling == 1.0
        else None
    )
    return Row(
        name=first.configuration.name,
        label=first.configuration.label,
        endpoint=first.endpoint,
        path=first.path,
        repetitions=len(group),
        requests_per_second=_median(m.load.requests_per_second for m in group),
        ratio=ratio,
        p50_ms=_median(m.load.p50_ms for m in group),
        p99_ms=_median(m.load.p99_ms for m in group),
        p99_ratio=p99_ratio,
        cpu_us_per_request=_median(m.cpu_us_per_request for m in group),
        cpu_ratio=cpu_ratio,
        peak_rss_mib=_median(m.peak_rss_mib for m in group),
        spans_received=received,
        spans_expected=expected,
        spans_lost=lost,
        errors=sum(m.load.errors for m in group),
        foreign_cpu_share=max(m.foreign_cpu_share for m in group),
    )


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _requests_per_second(measurement: Measurement) -> float:
    return measurement.load.requests_per_second


def _p99(measurement: Measurement) -> float:
    return measurement.load.p99_ms


def _cpu_per_request(measurement: Measurement) -> float:
    return measurement.cpu_us_per_request


def find(rows: Sequence[Row], name: str, endpoint: str) -> Row | None:
    for row in rows:
        if row.name == name and row.endpoint == endpoint:
            return row
    return None


@dataclass(frozen=True)
class Spread:
    """How far one untraced configuration's runs differed: the machine's drift."""

    label: str
    path: str
    runs: int
    lowest: float
    highest: float


def baseline_spread(measurements: Sequence[Measurement]) -> list[Spread]:
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for measurement in measurements:
        if not measurement.configuration.traced:
            key = (measurement.configuration.label, measurement.path)
            groups.setdefault(key, []).append(measurement)
    return [
        Spread(
            label,
            path,
            len(group),
            min(m.load.requests_per_second for m in group),
            max(m.load.requests_per_second for m in group),
        )
        for (label, path), group in groups.items()
    ]

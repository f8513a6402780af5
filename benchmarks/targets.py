"""The benchmark's targets (what the cost of tracing should stay within, set
when the benchmark was planned), checked against a run's figures: met, missed
or not measured.

A benchmark reports; it never fails on a timing. These verdicts go into the
report beside the figures they come from, and nothing exits non-zero on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.configurations import EXAMPLE, ROOT
from benchmarks.outage_memory import OutageMemory
from benchmarks.summary import Row, find

# Requests per second to keep, relative to untraced; `breakdown` turns each
# into the CPU it leaves tracing, and the chart draws the batch one.
BATCH_FLOOR = 0.60
SAMPLED_FLOOR = 0.85
PAIR_FLOOR = 0.80
# Of the traces-only ratio, what the default (traces and metrics) keeps.
METRICS_FLOOR = 0.85
P99_FACTOR = 3.0
# (configuration, endpoint, floor on its ratio to untraced, what it is).
RATIO_TARGETS = (
    ("batch-grpc", ROOT, BATCH_FLOOR, "batch on `GET /`"),
    ("batch-grpc", ROOT, 0.70, "batch on `GET /` (stretch)"),
    ("batch-grpc", EXAMPLE, 0.50, "batch on the example endpoint"),
    ("sampled-10pct", ROOT, SAMPLED_FLOOR, "10% sampling on `GET /`"),
    ("sampled-10pct", EXAMPLE, SAMPLED_FLOOR, "10% sampling on the example endpoint"),
    ("pair-batch-grpc", EXAMPLE, PAIR_FLOOR, "the pair"),
)
Check = Callable[[float, float], bool]
# What a configuration's ratio must keep of another's, both measured in the same
# run: (configuration, the other, target, check(its ratio, the other's)).
RATIO_AGAINST_TARGETS: tuple[tuple[str, str, str, Check], ...] = (
    (
        "batch-grpc-down",
        "batch-grpc",
        "batch, collector down, within 0.05 of up",
        lambda down, up: down >= up - 0.05,
    ),
    (
        "simple-grpc-down",
        "simple-grpc",
        "simple, collector down, >= half of up",
        lambda down, up: down >= up / 2,
    ),
    (
        "batch-grpc",
        "traces-only",
        f"traces and metrics >= {METRICS_FLOOR:.2f}x traces only",
        lambda both, traces: both >= METRICS_FLOOR * traces,
    ),
)


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None

    @property
    def outcome(self) -> str:
        return {True: "met", False: "missed", None: "not measured"}[self.met]


def evaluate(rows: Sequence[Row], outage: OutageMemory | None) -> list[Verdict]:
    endpoints = (ROOT, EXAMPLE)
    return [
        *(_ratio_at_least(rows, *target) for target in RATIO_TARGETS),
        *(_p99_at_most(rows, "batch-grpc", e, P99_FACTOR) for e in endpoints),
        *(
            _ratio_against(rows, name, other, endpoint, target, holds)
            for name, other, target, holds in RATIO_AGAINST_TARGETS
            for endpoint in endpoints
        ),
        _no_span_lost(rows),
        _outage_memory(outage),
    ]


def endpoint_label(endpoint: str) -> str:
    return "`GET /`" if endpoint == ROOT else "the example endpoint"


def ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio_at_least(
    rows: Sequence[Row], name: str, endpoint: str, floor: float, what: str
) -> Verdict:
    target = f"{what} >= {floor:.2f}"
    row = find(rows, name, endpoint)
    if row is None or row.ratio is None:
        return Verdict(target, "n/a", None)
    return Verdict(target, ratio_text(row.ratio), row.ratio >= floor)


def _p99_at_most(
    rows: Sequence[Row], name: str, endpoint: str, factor: float
) -> Verdict:
    target = f"batch p99 on {endpoint_label(endpoint)} at most {factor:g}x untraced"
    row = find(rows, name, endpoint)
    if row is None or row.p99_ratio is None:
        return Verdict(target, "n/a", None)
    return Verdict(
        target,
        f"{row.p99_ratio:.2f}x ({row.p99_ms:.1f} ms)",
        row.p99_ratio <= factor,
    )


def _ratio_against(
    rows: Sequence[Row],
    name: str,
    other_name: str,
    endpoint: str,
    target: str,
    holds: Check,
) -> Verdict:
    """`holds(ratio, other ratio)`, each to the untraced runs beside it."""
    target = f"{target} on {endpoint_label(endpoint)}"
    row, other = find(rows, name, endpoint), find(rows, other_name, endpoint)
    if row is None or other is None or row.ratio is None or not other.ratio:
        return Verdict(target, "n/a", None)
    return Verdict(
        target,
        f"{ratio_text(row.ratio)} vs {ratio_text(other.ratio)} "
        f"({row.ratio / other.ratio:.2f}x)",
        holds(row.ratio, other.ratio),
    )


def _no_span_lost(rows: Sequence[Row]) -> Verdict:
    """Every run whose spans were counted: each exported in full to a collector up."""
    target = "collector up, full sampling, either processor: no span lost"
    counted = [r for r in rows if r.spans_lost is not None]
    if not counted:
        return Verdict(target, "n/a", None)
    losing = "; ".join(
        f"{r.label} {r.path}: {r.spans_lost} lost" for r in counted if r.spans_lost
    )
    return Verdict(target, losing or "none lost", not losing)


def _outage_memory(outage: OutageMemory | None) -> Verdict:
    target = "RSS growth, collector down 60 s at full load, <= 30 MB"
    if outage is None:
        return Verdict(target, "n/a", None)
    return Verdict(
        target,
        f"{outage.growth_mib:.1f} MiB over {outage.seconds:.0f} s",
        # 30 MB, in MiB.
        outage.growth_mib <= 30e6 / 2**20,
    )

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
P99_FACTOR = 3.0
BATCH_COLLECTOR_UP = (
    "batch-grpc",
    "batch-http",
    "reference",
    "pair-batch-grpc",
    # fastotel batches natively; the peers use the SDK's batch processor.
    "native-http",
    "contrib",
    "lite-bootstrap",
)
SIMPLE_COLLECTOR_UP = ("simple-grpc",)
# What each processor's ratio with the collector down must keep of its ratio
# with the collector up: (configuration, target, check(down, up)).
COLLECTOR_DOWN_TARGETS: tuple[tuple[str, str, Callable[[float, float], bool]], ...] = (
    (
        "batch-grpc",
        "batch, collector down, within 0.05 of up",
        lambda down, up: down >= up - 0.05,
    ),
    (
        "simple-grpc",
        "simple, collector down, >= half of up",
        lambda down, up: down >= up / 2,
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
        _ratio_at_least(rows, "batch-grpc", ROOT, BATCH_FLOOR, "batch on `GET /`"),
        _ratio_at_least(
            rows, "batch-grpc", ROOT, 0.70, "batch on `GET /`", " (stretch)"
        ),
        _ratio_at_least(
            rows, "batch-grpc", EXAMPLE, 0.50, "batch on the example endpoint"
        ),
        *(_p99_at_most(rows, "batch-grpc", e, P99_FACTOR) for e in endpoints),
        *(
            _ratio_at_least(
                rows,
                "sampled-10pct",
                endpoint,
                SAMPLED_FLOOR,
                f"10% sampling on {endpoint_label(endpoint)}",
            )
            for endpoint in endpoints
        ),
        _ratio_at_least(rows, "pair-batch-grpc", EXAMPLE, PAIR_FLOOR, "the pair"),
        *(
            _down_against_up(rows, up_name, endpoint, target, holds)
            for endpoint in endpoints
            for up_name, target, holds in COLLECTOR_DOWN_TARGETS
        ),
        _no_span_lost(rows, BATCH_COLLECTOR_UP, "batch processors, collector up"),
        _no_span_lost(rows, SIMPLE_COLLECTOR_UP, "simple processor, collector up"),
        _outage_memory(outage),
    ]


def endpoint_label(endpoint: str) -> str:
    return "`GET /`" if endpoint == ROOT else "the example endpoint"


def ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio_at_least(
    rows: Sequence[Row],
    name: str,
    endpoint: str,
    floor: float,
    what: str,
    note: str = "",
) -> Verdict:
    target = f"{what} >= {floor:.2f}{note}"
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


def _down_against_up(
    rows: Sequence[Row],
    up_name: str,
    endpoint: str,
    target: str,
    holds: Callable[[float, float], bool],
) -> Verdict:
    """`holds(down ratio, up ratio)` for a configuration and its collector-down run."""
    target = f"{target} on {endpoint_label(endpoint)}"
    up = find(rows, up_name, endpoint)
    down = find(rows, f"{up_name}-down", endpoint)
    if up is None or down is None or up.ratio is None or down.ratio is None:
        return Verdict(target, "n/a", None)
    return Verdict(
        target,
        f"{ratio_text(down.ratio)} vs {ratio_text(up.ratio)}",
        holds(down.ratio, up.ratio),
    )


def _no_span_lost(rows: Sequence[Row], names: Sequence[str], which: str) -> Verdict:
    target = f"{which}: no span lost"
    counted = [r for r in rows if r.name in names and r.spans_lost is not None]
    if not counted:
        return Verdict(target, "n/a", None)
    losing = [r for r in counted if r.spans_lost]
    measured = (
        "none lost"
        if not losing
        else "; ".join(f"{r.label} {r.path}: {r.spans_lost} lost" for r in losing)
    )
    return Verdict(target, measured, not losing)


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

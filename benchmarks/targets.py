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
    verdicts = [
        _ratio_at_least(rows, "batch-grpc", ROOT, 0.60, "batch on `GET /` >= 0.60"),
        _ratio_at_least(
            rows, "batch-grpc", ROOT, 0.70, "batch on `GET /` >= 0.70 (stretch)"
        ),
        _ratio_at_least(
            rows, "batch-grpc", EXAMPLE, 0.50, "batch on the example endpoint >= 0.50"
        ),
    ]
    for endpoint in (ROOT, EXAMPLE):
        verdicts.append(_p99_at_most(rows, "batch-grpc", endpoint, 3.0))
    for endpoint in (ROOT, EXAMPLE):
        verdicts.append(
            _ratio_at_least(
                rows,
                "sampled-10pct",
                endpoint,
                0.85,
                f"10% sampling on {_label(endpoint)} >= 0.85",
            )
        )
    verdicts.append(
        _ratio_at_least(rows, "pair-batch-grpc", EXAMPLE, 0.80, "the pair >= 0.80")
    )
    for endpoint in (ROOT, EXAMPLE):
        for up_name, target, holds in COLLECTOR_DOWN_TARGETS:
            verdicts.append(
                _down_against_up(
                    rows, up_name, endpoint, f"{target} on {_label(endpoint)}", holds
                )
            )
    verdicts.append(
        _no_span_lost(rows, BATCH_COLLECTOR_UP, "batch processors, collector up")
    )
    verdicts.append(
        _no_span_lost(rows, SIMPLE_COLLECTOR_UP, "simple processor, collector up")
    )
    verdicts.append(_outage_memory(outage))
    return verdicts


def _label(endpoint: str) -> str:
    return "`GET /`" if endpoint == ROOT else "the example endpoint"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _ratio_at_least(
    rows: Sequence[Row], name: str, endpoint: str, floor: float, target: str
) -> Verdict:
    row = find(rows, name, endpoint)
    if row is None or row.ratio is None:
        return Verdict(target, "n/a", None)
    return Verdict(target, _fmt(row.ratio), row.ratio >= floor)


def _p99_at_most(
    rows: Sequence[Row], name: str, endpoint: str, factor: float
) -> Verdict:
    target = f"batch p99 on {_label(endpoint)} at most {factor:g}x untraced"
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
    up = find(rows, up_name, endpoint)
    down = find(rows, f"{up_name}-down", endpoint)
    if up is None or down is None or up.ratio is None or down.ratio is None:
        return Verdict(target, "n/a", None)
    return Verdict(
        target, f"{_fmt(down.ratio)} vs {_fmt(up.ratio)}", holds(down.ratio, up.ratio)
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

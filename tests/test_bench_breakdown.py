"""Cost breakdown and targets: the arithmetic on known figures, and when absent."""

import pytest

from benchmarks.breakdown import allowed_tracing_us, render_breakdown, steps
from benchmarks.configurations import EXAMPLE, ROOT
from benchmarks.summary import Row
from benchmarks.targets import evaluate


def row(name: str, endpoint: str, cpu: float, cpu_ratio=None, ratio=None) -> Row:
    return Row(
        name=name,
        label=name,
        endpoint=endpoint,
        path="/" if endpoint == ROOT else "/my_service",
        traced=cpu_ratio is not None,
        runs=3,
        requests_per_second=1_000_000 / cpu,
        requests_per_second_range=(1_000_000 / cpu, 1_000_000 / cpu),
        ratio=ratio,
        p50_ms=1.0,
        p99_ms=2.0,
        p99_ratio=None,
        cpu_us_per_request=cpu,
        cpu_ratio=cpu_ratio,
        peak_rss_mib=50.0,
        spans_received=None,
        spans_expected=0.0,
        spans_lost=None,
        foreign_cpu_share=0.0,
    )


def suite_rows(endpoint: str = ROOT) -> list[Row]:
    # Untraced 200 µs; the steps at 1.35x, 1.6x, 2.1x and 2.2x of it.
    return [
        row("untraced", endpoint, 200),
        row("sampled-0pct", endpoint, 280, cpu_ratio=1.35, ratio=0.74),
        row("not-exported", endpoint, 330, cpu_ratio=1.6, ratio=0.63),
        row("encoded-not-sent", endpoint, 410, cpu_ratio=2.1, ratio=0.48),
        row("batch-grpc", endpoint, 450, cpu_ratio=2.2, ratio=0.45),
    ]


def test_each_step_costs_its_cpu_ratio_times_untraced_minus_the_step_before():
    found = steps(suite_rows(), ROOT)

    assert [step.name for step in found] == [
        "untraced",
        "sampled-0pct",
        "not-exported",
        "encoded-not-sent",
        "batch-grpc",
    ]
    assert [round(step.cpu_us) for step in found] == [200, 270, 320, 420, 440]
    assert [round(step.added_us) for step in found] == [0, 70, 50, 100, 20]


def test_a_ratio_target_leaves_tracing_what_keeps_cpu_within_it():
    assert allowed_tracing_us(200, 0.80) == 50
    assert round(allowed_tracing_us(200, 0.60), 1) == 133.3


def test_the_report_says_when_no_sampling_ratio_can_meet_the_target():
    text = render_breakdown(suite_rows())

    assert (
        "| FastAPI's telemetry and metrics, a span the sampler drops "
        "| 270 | +70 | 0.74 |" in text
    )
    # 0.85 of 200 µs leaves 35 µs, and the dropped span alone costs 70.
    assert "allows tracing 35 µs" in text
    assert "no sampling ratio reaches the target" in text
    assert "allows tracing 133 µs per request" in text


def test_the_pair_line_divides_the_pairs_added_cpu_by_its_five_spans():
    rows = [
        *suite_rows(EXAMPLE),
        row("pair-untraced", EXAMPLE, 2000),
        row("pair-batch-grpc", EXAMPLE, 3500, cpu_ratio=1.75),
    ]

    text = render_breakdown(rows)

    # 0.80 of 2000 µs leaves 500 µs; the pair's spans took 0.75 x 2000 = 1500.
    assert "allows 500 µs per request for its 5 spans (100 µs each" in text
    assert "they took 1,500 µs (300 each)" in text


def test_a_run_without_the_steps_has_no_breakdown():
    partial = [r for r in suite_rows() if r.name in ("untraced", "batch-grpc")]

    assert steps(partial, ROOT) == []
    assert render_breakdown(partial) == ""


def verdict(rows: list[Row], target: str):
    return next(v for v in evaluate(rows, None) if v.target == target)


METRICS_ON_ROOT = "traces and metrics >= 0.85x traces only on `GET /`"


@pytest.mark.parametrize(
    ("with_metrics", "outcome", "measured"),
    [
        (0.45, "met", "0.45 vs 0.50 (0.90x)"),
        (0.43, "met", "0.43 vs 0.50 (0.86x)"),
        (0.40, "missed", "0.40 vs 0.50 (0.80x)"),
    ],
)
def test_metrics_may_cost_at_most_15_percent_of_traces_only(
    with_metrics, outcome, measured
):
    rows = [
        row("batch-grpc", ROOT, 500, cpu_ratio=2.0, ratio=with_metrics),
        row("traces-only", ROOT, 450, cpu_ratio=1.8, ratio=0.50),
    ]

    found = verdict(rows, METRICS_ON_ROOT)

    assert (found.outcome, found.measured) == (outcome, measured)


def test_the_metrics_target_is_not_measured_without_traces_only():
    rows = [row("batch-grpc", ROOT, 500, cpu_ratio=2.0, ratio=0.45)]

    assert verdict(rows, METRICS_ON_ROOT).outcome == "not measured"


def test_a_span_lost_in_any_counted_run_misses_the_target():
    complete = row("traces-only", ROOT, 450, cpu_ratio=1.8, ratio=0.5)
    losing = row("exemplars-off", EXAMPLE, 450, cpu_ratio=1.8, ratio=0.5)
    sampled = row("sampled-10pct", ROOT, 300, cpu_ratio=1.2, ratio=0.8)
    rows = [
        Row(**{**vars(complete), "spans_lost": 0}),
        Row(**{**vars(losing), "spans_lost": 3}),
        sampled,
    ]

    found = verdict(rows, "collector up, full sampling, either processor: no span lost")

    assert found.outcome == "missed"
    assert found.measured == "exemplars-off /my_service: 3 lost"

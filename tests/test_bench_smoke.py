"""The benchmark harness, smoke-run: the default and its metrics variants, one
repetition, a second each.

It proves the harness runs end to end on any Linux machine (the Python load
client, so wrk is not needed): a service is baked and served, the traced runs'
spans reach the receiver and are counted (the service's metrics beside them
never counted as spans), the report's table has every column and its targets
are evaluated. The figures themselves are not checked: a benchmark reports, it
never fails on a timing. The report goes to a temporary directory, never to
benchmarks/results.
"""

from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.configurations import (
    BATCH_GRPC,
    EXEMPLARS_OFF,
    TRACES_ONLY,
    UNTRACED,
)
from benchmarks.report import COLUMNS
from benchmarks.span_counter import SpanCounter

SMOKE_ARGUMENTS = [
    "--load",
    "python",
    "--configurations",
    "batch-grpc,traces-only,exemplars-off",
    "--endpoints",
    "root",
    "--repetitions",
    "1",
    "--seconds",
    "1",
    "--warmup",
    "0.5",
    "--outage-seconds",
    "0",
    "--bakes",
    "0",
    "--wait-for-calm",
    "0",
    "--no-chart",
]

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="the harness reads /proc"
)


def table_rows(report: str, first_column: str = "configuration") -> list[dict]:
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    header = next(line for line in lines if line.startswith(f"| {first_column} |"))
    names = [cell.strip() for cell in header.strip("|").split("|")]
    start = lines.index(header) + 1
    rows = []
    for line in lines[start:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != len(names):
            break
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", "").replace("*", ""))


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    output = tmp_path_factory.mktemp("bench")
    assert main([*SMOKE_ARGUMENTS, "--output", str(output)]) == 0
    return output, (output / "latest.md").read_text(encoding="utf-8")


def test_smoke_run_writes_the_table_with_every_column(smoke_report):
    _, report = smoke_report
    header = next(line for line in report.splitlines() if line.startswith("| conf"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == list(COLUMNS)
    assert [row["configuration"] for row in table_rows(report)] == [
        configuration.label
        for configuration in (
            UNTRACED,
            BATCH_GRPC,
            TRACES_ONLY,
            EXEMPLARS_OFF,
        )
    ]


def test_smoke_run_serves_requests_in_every_configuration(smoke_report):
    _, report = smoke_report
    for row in table_rows(report):
        assert number(row["req/s"]) > 0, row
        assert number(row["CPU µs/req"]) > 0, row


def test_smoke_run_counts_every_traced_configurations_spans(smoke_report):
    _, report = smoke_report
    untraced, *traced = table_rows(report)
    assert untraced["spans received / expected"] == "—"
    for row in traced:
        received, expected = row["spans received / expected"].split(" / ")[:2]
        assert number(received) > 0, row
        assert number(expected.split()[0]) > 0, row
        assert row["ratio to untraced"] != "—", row


def test_smoke_run_weighs_traces_and_metrics_against_traces_only(smoke_report):
    _, report = smoke_report
    verdicts = {row["target"]: row for row in table_rows(report, "target")}
    metrics = verdicts["traces and metrics >= 0.85x traces only on `GET /`"]
    assert metrics["outcome"] in ("met", "missed")
    assert metrics["measured"].endswith("x)")
    lost = verdicts["collector up, full sampling, either processor: no span lost"]
    assert lost["outcome"] != "not measured"


def test_smoke_run_writes_only_to_the_chosen_directory(smoke_report):
    output, _ = smoke_report
    assert sorted(path.name for path in output.iterdir()) == ["latest.md"]


class LoggedProcess:
    def __init__(self, log: str) -> None:
        self.log = log

    def log_text(self) -> str:
        return self.log


def test_the_span_count_adds_span_exports_and_never_metric_exports():
    log = (
        "otlp_receiver grpc export: 32 span(s), services: my_service\n"
        "otlp_receiver grpc metrics export: 4 point(s), services: my_service\n"
        "otlp_receiver http export: 3 span(s), services: my_service\n"
        "otlp_receiver http metrics export: 5 point(s), services: my_service\n"
    )
    counter = SpanCounter(LoggedProcess(log), "", "")

    assert counter.received() == 35

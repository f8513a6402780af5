"""The benchmark harness, smoke-run: two configurations, one repetition, a second each.

It proves the harness runs end to end on any Linux machine (the Python load
client, so wrk is not needed): a service is baked and served, a traced run's
spans reach the receiver and are counted, and the report's table has every
column. The figures themselves are not checked: a benchmark reports, it never
fails on a timing. The report goes to a temporary directory, never to
benchmarks/results.
"""

from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.report import COLUMNS

SMOKE_ARGUMENTS = [
    "--load",
    "python",
    "--configurations",
    "untraced,batch-grpc",
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


def table_rows(report: str) -> list[dict[str, str]]:
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    header = next(line for line in lines if line.startswith("| configuration |"))
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
        "untraced",
        "batch, gRPC",
    ]


def test_smoke_run_serves_requests_in_both_configurations(smoke_report):
    _, report = smoke_report
    for row in table_rows(report):
        assert number(row["req/s"]) > 0, row
        assert number(row["CPU µs/req"]) > 0, row


def test_smoke_run_counts_the_traced_configurations_spans(smoke_report):
    _, report = smoke_report
    untraced, traced = table_rows(report)
    assert untraced["spans received / expected"] == "—"
    received, expected = traced["spans received / expected"].split(" / ")[:2]
    assert number(received) > 0
    assert number(expected.split()[0]) > 0
    assert traced["ratio to untraced"] != "—"


def test_smoke_run_writes_only_to_the_chosen_directory(smoke_report):
    output, _ = smoke_report
    assert sorted(path.name for path in output.iterdir()) == ["latest.md"]

"""One warning per collector outage, one line on recovery, exporter noise folded."""

import logging
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from {{ cookiecutter.project_slug }}.export_health import (
    ExporterLogFolder,
    OutageReportingExporter,
    fold_exporter_logs,
)

EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.grpc.exporter"
DESTINATION = "collector:4317"


class SwitchableExporter(SpanExporter):
    """Fails while `down` is set, complaining the way the OTLP exporters do."""

    def __init__(self) -> None:
        self.down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.down:
            logging.getLogger(EXPORTER_LOGGER).warning(
                "Transient error StatusCode.UNAVAILABLE encountered, retrying in 1s."
            )
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def folder():
    """A folder on the exporter logger for one test, taken off afterwards."""
    exporter_logger = logging.getLogger(EXPORTER_LOGGER)
    folder = ExporterLogFolder()
    fold_exporter_logs(folder)
    yield folder
    exporter_logger.removeFilter(folder)


def reporting_exporter(folder):
    inner, clock = SwitchableExporter(), FakeClock()
    return inner, OutageReportingExporter(inner, DESTINATION, folder, clock), clock


def tracing_lines(caplog) -> list[str]:
    """This test's lines: other exporters in the process may report their own."""
    messages = [record.getMessage() for record in caplog.records]
    return [m for m in messages if m.startswith("tracing:") and DESTINATION in m]


def test_an_outage_logs_one_warning_with_the_exporters_reason(caplog, folder):
    inner, exporter, _ = reporting_exporter(folder)
    inner.down = True

    with caplog.at_level(logging.INFO):
        for _ in range(5):
            exporter.export([])

    lines = tracing_lines(caplog)
    assert len(lines) == 1
    assert "cannot export spans to collector:4317" in lines[0]
    assert "UNAVAILABLE" in lines[0]
    assert not [r for r in caplog.records if r.name == EXPORTER_LOGGER]


def test_recovery_logs_how_long_and_how_many_spans_were_lost(caplog, folder):
    inner, exporter, clock = reporting_exporter(folder)
    inner.down = True
    exporter.export([object()] * 3)
    exporter.export([object()] * 2)
    clock.now += 12.5
    inner.down = False
    caplog.clear()

    with caplog.at_level(logging.INFO):
        exporter.export([object()])
        exporter.export([object()])

    (line,) = tracing_lines(caplog)
    assert "works again after 12.5 s; 5 spans were lost" in line
    assert not exporter.in_outage


def test_shutdown_stops_listening_to_the_exporter_logs(folder):
    _, exporter, _ = reporting_exporter(folder)

    exporter.shutdown()

    assert folder.listeners == []


def test_an_exporter_that_raises_counts_as_a_failed_export(caplog):
    class RaisingExporter(SpanExporter):
        def export(self, spans):
            raise ConnectionError("collector went away")

    exporter = OutageReportingExporter(
        RaisingExporter(), DESTINATION, ExporterLogFolder()
    )

    with caplog.at_level(logging.INFO):
        result = exporter.export([])

    assert result is SpanExportResult.FAILURE
    (line,) = tracing_lines(caplog)
    assert "collector went away" in line

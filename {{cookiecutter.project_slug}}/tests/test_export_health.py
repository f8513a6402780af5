"""One warning per collector outage, one line on recovery, exporter noise folded."""

import logging
import socket
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from {{ cookiecutter.project_slug }}.export_health import OutageReportingExporter
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import build_otlp_exporter

EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}
DESTINATION = "collector:4317"


class SwitchableExporter(SpanExporter):
    """Fails while `down` is set, complaining the way the OTLP exporters do."""

    def __init__(self, complaints: logging.Logger) -> None:
        self.complaints = complaints
        self.down = False
        self.flushes: list[int] = []
        self.shut_down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.down:
            self.complaints.warning(
                "Transient error StatusCode.UNAVAILABLE encountered, retrying in 1s."
            )
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flushes.append(timeout_millis)
        return False

    def shutdown(self) -> None:
        self.shut_down = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def exporter_logger(request) -> logging.Logger:
    """An exporter's logger of this test's own, made before the wrapper is."""
    return logging.getLogger(f"opentelemetry.exporter.double.{request.node.name}")


@pytest.fixture
def inner(exporter_logger) -> SwitchableExporter:
    return SwitchableExporter(exporter_logger)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exporter(inner, clock) -> Iterator[OutageReportingExporter]:
    """The wrapper, taken off the exporters' loggers after the test."""
    wrapper = OutageReportingExporter(inner, DESTINATION, clock=clock)
    yield wrapper
    wrapper.shutdown()


def tracing_lines(caplog) -> list[str]:
    """This test's lines: other exporters in the process may report their own."""
    return [m for m in caplog.messages if m.startswith("tracing:") and DESTINATION in m]


def exporter_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]


def spans(count: int) -> list:
    return [object()] * count


def test_an_outage_logs_one_warning_with_the_exporters_reason(caplog, inner, exporter):
    inner.down = True

    with caplog.at_level(logging.INFO):
        results = [exporter.export(spans(1)) for _ in range(5)]

    assert results == [SpanExportResult.FAILURE] * 5
    (line,) = tracing_lines(caplog)
    assert line.startswith("tracing: cannot export spans to collector:4317 (")
    assert "UNAVAILABLE" in line
    assert exporter_records(caplog) == []


def test_exporter_lines_below_warning_are_folded_without_starting_an_outage(
    caplog, exporter_logger, exporter
):
    with caplog.at_level(logging.DEBUG):
        exporter_logger.info("connecting to the collector")

    assert exporter_records(caplog) == []
    assert tracing_lines(caplog) == []


def test_recovery_logs_how_long_and_how_many_spans_were_lost(
    caplog, inner, exporter, clock
):
    inner.down = True
    exporter.export(spans(3))
    exporter.export(spans(2))
    clock.now += 12.5
    inner.down = False
    caplog.clear()

    with caplog.at_level(logging.INFO):
        results = [exporter.export(spans(1)), exporter.export(spans(1))]

    assert results == [SpanExportResult.SUCCESS] * 2
    (line,) = tracing_lines(caplog)
    assert line == (
        "tracing: export to collector:4317 works again after 12.5 s; 5 spans were lost"
    )


def test_the_next_outage_counts_its_time_and_lost_spans_from_zero(
    caplog, inner, exporter, clock
):
    with caplog.at_level(logging.INFO):
        inner.down = True
        exporter.export(spans(4))
        clock.now += 60
        inner.down = False
        exporter.export(spans(1))
        clock.now += 1000
        inner.down = True
        exporter.export(spans(2))
        clock.now += 3
        inner.down = False
        exporter.export(spans(1))

    lines = tracing_lines(caplog)
    assert len(lines) == 4
    assert "cannot export spans" in lines[0]
    assert lines[1].endswith("works again after 60.0 s; 4 spans were lost")
    assert "cannot export spans" in lines[2]
    assert lines[3].endswith("works again after 3.0 s; 2 spans were lost")


def test_the_outage_starts_at_the_exporters_first_warning(
    caplog, exporter_logger, inner, exporter, clock
):
    # The first retry warning comes seconds before the export gives up.
    with caplog.at_level(logging.INFO):
        exporter_logger.warning("Transient error StatusCode.UNAVAILABLE, retrying")
        clock.now += 4
        inner.down = True
        exporter.export(spans(2))
        clock.now += 6
        inner.down = False
        exporter.export(spans(1))

    lines = tracing_lines(caplog)
    assert len(lines) == 2
    assert "Transient error StatusCode.UNAVAILABLE, retrying" in lines[0]
    assert lines[1].endswith("works again after 10.0 s; 2 spans were lost")


def test_an_exporter_that_raises_counts_as_a_failed_export(caplog):
    class RaisingExporter(SpanExporter):
        def export(self, spans):
            raise ConnectionError("collector went away")

    exporter = OutageReportingExporter(RaisingExporter(), DESTINATION)
    try:
        with caplog.at_level(logging.INFO):
            result = exporter.export(spans(1))
    finally:
        exporter.shutdown()

    assert result is SpanExportResult.FAILURE
    (line,) = tracing_lines(caplog)
    assert "(ConnectionError: collector went away)" in line


def test_force_flush_passes_through_to_the_inner_exporter(inner, exporter):
    assert exporter.force_flush(1234) is False
    assert inner.flushes == [1234]


def test_shutdown_shuts_the_inner_exporter_and_stops_folding_its_logs(
    caplog, exporter_logger, inner, exporter
):
    exporter.shutdown()

    with caplog.at_level(logging.INFO):
        exporter_logger.warning("a complaint after shutdown")

    assert inner.shut_down
    assert [r.getMessage() for r in exporter_records(caplog)] == [
        "a complaint after shutdown"
    ]
    assert tracing_lines(caplog) == []


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_a_real_exporter_facing_a_dead_collector_gives_one_line_and_no_noise(
    monkeypatch, caplog, protocol
):
    pytest.importorskip(EXPORTER_MODULES[protocol])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    settings = Settings()
    provider = TracerProvider()
    span = provider.get_tracer("test").start_span("lost")
    span.end()
    exporter = OutageReportingExporter(
        build_otlp_exporter(settings, timeout=1.0), settings.traces_endpoint
    )

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        result = exporter.export([span])
    elapsed = time.monotonic() - started
    exporter.shutdown()

    assert result is SpanExportResult.FAILURE
    assert elapsed < 5
    lines = [m for m in caplog.messages if m.startswith("tracing:")]
    assert len(lines) == 1
    assert f"cannot export spans to {settings.traces_endpoint} (" in lines[0]
    assert exporter.reason != "export failed"
    assert exporter_records(caplog) == []

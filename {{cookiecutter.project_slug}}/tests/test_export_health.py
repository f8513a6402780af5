"""One warning per collector outage, one line on recovery, exporter noise folded."""

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from {{ cookiecutter.project_slug }} import export_health
from {{ cookiecutter.project_slug }}.export_health import (
    OutageReportingExporter,
    OutageReportingMetricExporter,
    endpoint_hint,
    first_line,
)
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    build_otlp_exporter,
    build_tracer_provider,
)

from loopback_collector import EXPORTER_MODULES, closed_port_url, needs_exporter

DESTINATION = "collector:4317"
COMPLAINT = "Transient error StatusCode.UNAVAILABLE encountered, retrying in 1s."
FAILURE, SUCCESS = SpanExportResult.FAILURE, SpanExportResult.SUCCESS


class SwitchableExporter(SpanExporter):
    """Fails while `down` is set, complaining the way the OTLP exporters do."""

    def __init__(self, complaints: logging.Logger) -> None:
        self.complaints = complaints
        self.complaint = COMPLAINT
        self.down = False
        self.error: Exception | None = None
        self.flushes: list[int] = []
        self.shut_down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.complaints.info("connecting to the collector")
        if self.error:
            raise self.error
        if self.down:
            self.complaints.warning(self.complaint)
            self.retrying()
            return FAILURE
        return SUCCESS

    def retrying(self) -> None:
        """Where the real exporters wait between attempts."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flushes.append(timeout_millis)
        return False

    def shutdown(self) -> None:
        self.shut_down = True


@pytest.fixture
def exporter_logger(request) -> logging.Logger:
    """An exporter's logger of this test's own, made before the wrapper is."""
    return logging.getLogger(f"opentelemetry.exporter.double.{request.node.name}")


@pytest.fixture
def inner(exporter_logger) -> SwitchableExporter:
    return SwitchableExporter(exporter_logger)


@pytest.fixture
def clock(monkeypatch) -> SimpleNamespace:
    """The wrapper's clock: tests move `now` on."""
    clock = SimpleNamespace(now=100.0)
    fake_time = SimpleNamespace(monotonic=lambda: clock.now)
    monkeypatch.setattr(export_health, "time", fake_time)
    return clock


@pytest.fixture
def exporter(inner, clock) -> Iterator[OutageReportingExporter]:
    """The wrapper, shut down (with its inner exporter) after the test."""
    wrapper = OutageReportingExporter(inner, DESTINATION, "; a hint")
    yield wrapper
    wrapper.shutdown()


def tracing_lines(caplog) -> list[str]:
    """This test's lines: other exporters in the process may report their own."""
    return [m for m in caplog.messages if m.startswith("tracing:") and DESTINATION in m]


def exporter_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]


def spans(count: int) -> list:
    return [object()] * count


def test_each_outage_logs_one_warning_and_one_recovery_line_counting_from_zero(
    caplog, inner, exporter, clock
):
    def outage(failed_exports: list[int], seconds: float) -> list[SpanExportResult]:
        inner.down = True
        results = [exporter.export(spans(count)) for count in failed_exports]
        clock.now += seconds
        inner.down = False
        return results + [exporter.export(spans(1)) for _ in range(2)]

    with caplog.at_level(logging.INFO):
        assert outage([3, 2, 1, 1, 1], 12.5) == [FAILURE] * 5 + [SUCCESS] * 2
        clock.now += 1000
        outage([2], 3)

    warning = (
        f"tracing: cannot export spans to {DESTINATION} ({COMPLAINT}); a hint; "
        "spans are dropped until it answers, requests are not affected"
    )
    assert tracing_lines(caplog) == [
        warning,
        f"tracing: export to {DESTINATION} works again after 12.5 s; 8 spans were lost",
        warning,
        f"tracing: export to {DESTINATION} works again after 3.0 s; 2 spans were lost",
    ]
    assert exporter_records(caplog) == []


def test_the_outage_starts_at_the_exporters_first_warning(
    caplog, inner, exporter, clock
):
    # The first retry warning comes seconds before the export gives up.
    inner.retrying = lambda: setattr(clock, "now", clock.now + 4)
    with caplog.at_level(logging.INFO):
        inner.down = True
        exporter.export(spans(2))
        clock.now += 6
        inner.down = False
        exporter.export(spans(1))

    lines = tracing_lines(caplog)
    assert len(lines) == 2
    assert f"({COMPLAINT})" in lines[0]
    assert lines[1].endswith("works again after 10.0 s; 2 spans were lost")


def test_an_exporters_own_filter_hides_no_warning_from_the_outage_line(
    caplog, inner, exporter_logger, clock
):
    """The gRPC exporter's logger drops a record with the same message template
    as the one before it (the SDK's DuplicateFilter): one signal's first
    warning, after the other signal's. The outage still starts at it, with its
    reason."""
    previous: list[object] = []

    def drop_repeats(record: logging.LogRecord) -> bool:
        repeated = previous == [record.msg]
        previous[:] = [record.msg]
        return not repeated

    exporter_logger.addFilter(drop_repeats)  # as the exporter module, at import
    exporter_logger.setLevel(logging.WARNING)  # as in the service: no info record
    exporter_logger.warning(COMPLAINT)  # the other signal's warning
    wrapper = OutageReportingExporter(inner, DESTINATION)
    with caplog.at_level(logging.INFO):
        inner.down = True
        wrapper.export(spans(1))

    (line,) = tracing_lines(caplog)
    assert f"({COMPLAINT})" in line


def test_exporter_lines_are_folded_only_while_it_exports_and_info_starts_no_outage(
    caplog, exporter_logger, inner, exporter
):
    with caplog.at_level(logging.DEBUG):
        assert exporter.export(spans(1)) is SUCCESS
        exporter_logger.warning("a complaint outside an export")
        exporter.shutdown()

    assert inner.shut_down
    assert [r.getMessage() for r in exporter_records(caplog)] == [
        "a complaint outside an export"
    ]
    assert tracing_lines(caplog) == []


def test_an_exporter_that_raises_counts_as_a_failed_export(caplog, inner, exporter):
    inner.error = ConnectionError("collector went away")

    with caplog.at_level(logging.INFO):
        assert exporter.export(spans(1)) is FAILURE

    (line,) = tracing_lines(caplog)
    assert "(ConnectionError: collector went away)" in line


def test_a_silent_failure_is_reported_as_export_failed_with_no_hint(caplog, inner):
    inner.down = True
    inner.complaints = logging.getLogger("not.an.exporter")  # no reason given
    exporter = OutageReportingExporter(inner, DESTINATION)
    try:
        with caplog.at_level(logging.INFO):
            exporter.export(spans(1))
    finally:
        exporter.shutdown()

    (line,) = tracing_lines(caplog)
    assert f"to {DESTINATION} (export failed); spans are dropped" in line


def test_force_flush_passes_through_to_the_inner_exporter(inner, exporter):
    assert exporter.force_flush(1234) is False
    assert inner.flushes == [1234]


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_a_real_exporter_facing_a_dead_collector_gives_one_line_and_no_noise(
    monkeypatch, caplog, protocol
):
    needs_exporter(protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", closed_port_url())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    settings = Settings()
    span = TracerProvider().get_tracer("test").start_span("lost")
    span.end()
    exporter = OutageReportingExporter(
        build_otlp_exporter(settings), settings.endpoint("traces")
    )

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        result = exporter.export([span])
    elapsed = time.monotonic() - started
    exporter.shutdown()

    assert result is FAILURE
    assert elapsed < 5
    (line,) = [m for m in caplog.messages if m.startswith("tracing:")]
    assert f"cannot export spans to {settings.endpoint('traces')} (" in line
    assert "(export failed)" not in line  # the exporter's own words
    assert exporter_records(caplog) == []


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_the_service_reports_an_outage_naming_its_endpoint_and_hint(
    monkeypatch, caplog, protocol
):
    needs_exporter(protocol)
    endpoint = closed_port_url()
    if protocol == "grpc":
        endpoint = endpoint.removeprefix("http://")  # no scheme: a hint to give
    for name, value in {
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    provider = build_tracer_provider(settings)

    with caplog.at_level(logging.INFO):
        provider.get_tracer("test").start_span("lost").end()
        provider.force_flush(5000)
    provider.shutdown()

    (line,) = [m for m in caplog.messages if "cannot export spans" in m]
    hint = re.escape(endpoint_hint(protocol, settings.endpoint("traces")))
    assert re.fullmatch(
        rf"tracing: cannot export spans to {re.escape(settings.endpoint('traces'))} "
        rf"\(.+\){hint}; spans are dropped until it answers, requests are not affected",
        line,
    )


@pytest.mark.parametrize(
    ("protocol", "endpoint", "hint"),
    [
        ("grpc", "http://c:4318", "; 4318 is OTLP/HTTP's port, gRPC's is 4317"),
        (
            "http/protobuf",
            "http://c:4317/v1/traces",
            "; 4317 is OTLP/gRPC's port, HTTP's is 4318",
        ),
        (
            "grpc",
            "c:4317",
            "; an endpoint without a scheme means TLS (http:// for plaintext)",
        ),
        ("grpc", "http://c:4317", ""),
        ("http/protobuf", "http://c:4318/v1/traces", ""),
    ],
)
def test_the_hint_names_the_usual_endpoint_mistake(protocol, endpoint, hint):
    assert endpoint_hint(protocol, endpoint) == hint


def test_a_long_exporter_reason_is_cut_between_words_at_300_characters():
    assert first_line("a" * 298 + " bcdefgh and more") == "a" * 298 + " ..."
    assert first_line("word " * 100) == " ".join(["word"] * 60) + " ..."
    assert first_line("short reason\nsecond line") == "short reason"
    assert first_line("x" * 300) == "x" * 300  # 300 is kept whole
    # Cut at 300, then back to the last space: the word the cut ends is dropped,
    # even when the next character (index 300) happens to be a space.
    assert first_line("a " + "b" * 298 + " c" + "d" * 50) == "a ..."
    assert first_line("") == ""


def test_the_outage_lines_carry_no_user_password_or_query_value(
    caplog, exporter_logger, inner, clock
):
    """In the destination, and in the exporter's own words, which the gRPC
    exporter writes with the target's userinfo."""
    wrapper = OutageReportingExporter(
        inner, "http://alice:S3CRET@c:4318/v1/traces?tenant=S3CRET"
    )
    inner.complaint = (
        "Transient error StatusCode.UNAVAILABLE encountered while exporting "
        "traces to alice:S3CRET@c:4318, retrying in 1.12s."
    )
    with caplog.at_level(logging.INFO):
        inner.down = True
        wrapper.export(spans(1))
        clock.now += 2
        inner.down = False
        wrapper.export(spans(1))
    wrapper.shutdown()

    lines = [m for m in caplog.messages if m.startswith("tracing:")]
    assert lines == [
        "tracing: cannot export spans to http://REDACTED@c:4318/v1/traces?tenant="
        "REDACTED (Transient error StatusCode.UNAVAILABLE encountered while "
        "exporting traces to REDACTED@c:4318, retrying in 1.12s.); spans are "
        "dropped until it answers, requests are not affected",
        "tracing: export to http://REDACTED@c:4318/v1/traces?tenant=REDACTED works "
        "again after 2.0 s; 1 spans were lost",
    ]


def test_an_exporters_exception_reaches_the_outage_line_scrubbed(caplog, inner, clock):
    wrapper = OutageReportingExporter(inner, DESTINATION)
    inner.error = ConnectionError("cannot reach http://alice:S3CRET@c:4318/?k=S3CRET")

    with caplog.at_level(logging.INFO):
        wrapper.export(spans(1))
    wrapper.shutdown()

    (line,) = tracing_lines(caplog)
    assert "(ConnectionError: cannot reach http://REDACTED@c:4318/?k=REDACTED)" in line


class SwitchableMetricExporter(MetricExporter):
    """Fails while `down` is set, complaining as the OTLP exporters do; prefers
    delta temporality for counters, and keeps what it was asked."""

    def __init__(self, complaints: logging.Logger) -> None:
        delta = {Counter: AggregationTemporality.DELTA}
        super().__init__(preferred_temporality=delta)
        self.complaints = complaints
        self.down = False
        self.exported: list[MetricsData] = []
        self.calls: list[tuple[str, object]] = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        self.calls.append(("export", timeout_millis))
        if self.down:
            self.complaints.warning(COMPLAINT)
            return MetricExportResult.FAILURE
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        self.calls.append(("force_flush", timeout_millis))
        return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.calls.append(("shutdown", timeout_millis))


def test_metric_outages_get_the_two_lines_counting_metric_points(
    caplog, exporter_logger, clock
):
    inner = SwitchableMetricExporter(exporter_logger)
    wrapper = OutageReportingMetricExporter(inner, DESTINATION)
    reader = PeriodicExportingMetricReader(wrapper, export_interval_millis=3_600_000)
    counter = MeterProvider([reader]).get_meter("test").create_counter("orders")

    with caplog.at_level(logging.INFO):
        inner.down = True
        for currency in ("EUR", "USD", "CHF"):
            counter.add(1, {"currency": currency})
        reader.force_flush()
        clock.now += 12.5
        inner.down = False
        counter.add(1, {"currency": "EUR"})
        reader.force_flush()
    wrapper.shutdown(timeout_millis=1234)

    assert [m for m in caplog.messages if m.startswith("metrics:")] == [
        f"metrics: cannot export metric points to {DESTINATION} ({COMPLAINT}); "
        "metric points are dropped until it answers, requests are not affected",
        f"metrics: export to {DESTINATION} works again after 12.5 s; "
        "3 metric points were lost",
    ]
    assert exporter_records(caplog) == []
    # The reader was given the inner exporter's temporality: delta, so the
    # export after the outage holds only what was added since the last.
    (exported,) = inner.exported
    (metric,) = exported.resource_metrics[0].scope_metrics[0].metrics
    assert metric.data.aggregation_temporality is AggregationTemporality.DELTA
    assert [point.value for point in metric.data.data_points] == [1]
    assert inner.calls[-1] == ("shutdown", 1234)


def test_the_metric_wrapper_passes_timeouts_and_flushes_through(exporter_logger):
    inner = SwitchableMetricExporter(exporter_logger)
    wrapper = OutageReportingMetricExporter(inner, DESTINATION)

    assert wrapper.export(MetricsData([]), timeout_millis=4321) is (
        MetricExportResult.SUCCESS
    )
    assert wrapper.force_flush(567) is False
    wrapper.shutdown()

    assert inner.calls == [("export", 4321), ("force_flush", 567), ("shutdown", 30_000)]


def test_an_exporter_record_on_a_thread_that_never_exported_passes(
    caplog, exporter_logger, exporter
):
    thread = threading.Thread(target=exporter_logger.warning, args=("at start-up",))
    with caplog.at_level(logging.INFO):
        thread.start()
        thread.join(5)

    assert [r.getMessage() for r in exporter_records(caplog)] == ["at start-up"]

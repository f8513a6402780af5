"""The tracer provider: resource, sampler, exporters, processors, install, shutdown."""

import logging
import sys
import threading
import time
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from {{ cookiecutter.project_slug }} import __version__
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import (
    DEFAULT_EXPORT_BATCH_SIZE,
    ConfigurationError,
    Settings,
)
from {{ cookiecutter.project_slug }}.telemetry import (
    build_exporters,
    build_otlp_exporter,
    build_resource,
    build_span_processor,
    build_tracer_provider,
    build_tracing,
    install_tracing,
    shutdown_tracer_provider,
)

SLUG = "{{ cookiecutter.project_slug }}"
EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}


class BatchRecordingExporter(InMemorySpanExporter):
    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []
        self.threads: set[threading.Thread] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batch_sizes.append(len(spans))
        self.threads.add(threading.current_thread())
        return super().export(spans)


class StuckExporter(InMemorySpanExporter):
    """An exporter that hangs like one talking to a collector that never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        return SpanExportResult.SUCCESS


def test_resource_names_the_service_after_the_slug_with_its_version(settings):
    attributes = build_resource(settings).attributes

    assert attributes["service.name"] == SLUG
    assert attributes["service.version"] == __version__


def test_otel_service_name_wins_over_the_slug(settings, monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")

    assert build_resource(settings).attributes["service.name"] == "checkout"


def test_otel_resource_attributes_are_honoured(settings, monkeypatch):
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=staging,service.name=from-attributes",
    )

    attributes = build_resource(settings).attributes

    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["service.name"] == "from-attributes"
    assert attributes["service.version"] == __version__


def test_simple_processor_exports_each_span_as_it_ends(monkeypatch, capsys):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", "simple")
    provider = build_tracer_provider(Settings.from_environ())

    with provider.get_tracer("test").start_as_current_span("exported-at-once"):
        pass
    output = ""
    deadline = time.monotonic() + 2
    while "exported-at-once" not in output and time.monotonic() < deadline:
        time.sleep(0.01)
        output += capsys.readouterr().out

    assert "exported-at-once" in output
    provider.shutdown()


def test_simple_processor_sends_each_span_at_once_off_the_ending_thread():
    exporter = BatchRecordingExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor("simple", exporter))

    waits = []
    for index in range(3):
        ended = time.monotonic()
        provider.get_tracer("test").start_span(f"span-{index}").end()
        deadline = ended + 2
        while len(exporter.batch_sizes) <= index and time.monotonic() < deadline:
            time.sleep(0.001)
        waits.append(time.monotonic() - ended)

    # Spans that end apart leave apart, each well before a batch's 5 s delay.
    assert exporter.batch_sizes == [1, 1, 1]
    assert max(waits) < 0.5, f"spans waited {waits} s"
    assert threading.main_thread() not in exporter.threads
    provider.shutdown()


class SlowExporter(BatchRecordingExporter):
    """Takes 2 ms per export call, like a collector a round trip away."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(0.002)
        return super().export(spans)


def test_simple_processor_keeps_up_with_spans_faster_than_one_export_each():
    # 3000 spans at up to 5000 a second, against exports of 2 ms each: one span
    # per export would fall behind by thousands and overflow the 2048-span
    # queue. Spans that end during an export go together in the next one.
    exporter = SlowExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor("simple", exporter))
    tracer = provider.get_tracer("test")

    for index in range(3000):
        tracer.start_span(f"span-{index}").end()
        if index % 10 == 0:
            time.sleep(0.002)
    deadline = time.monotonic() + 10
    while sum(exporter.batch_sizes) < 3000 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert sum(exporter.batch_sizes) == 3000
    assert len(exporter.get_finished_spans()) == 3000
    assert max(exporter.batch_sizes) <= DEFAULT_EXPORT_BATCH_SIZE
    provider.shutdown()


@pytest.mark.parametrize("kind", ["batch", "simple"])
def test_stuck_exporter_never_delays_the_code_that_ends_spans(kind):
    exporter = StuckExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(kind, exporter))
    tracer = provider.get_tracer("test")

    started = time.monotonic()
    for index in range(200):
        tracer.start_span(f"span-{index}").end()
    elapsed = time.monotonic() - started
    exporter.release.set()

    assert elapsed < 0.5, f"ending 200 spans took {elapsed:.2f} s"
    provider.shutdown()


def test_batch_processor_holds_spans_until_flushed(monkeypatch, capsys):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", "batch")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    provider = build_tracer_provider(Settings.from_environ())

    with provider.get_tracer("test").start_as_current_span("queued"):
        pass
    held = capsys.readouterr().out
    provider.force_flush()

    assert "queued" not in held
    assert "queued" in capsys.readouterr().out
    provider.shutdown()


def test_batch_processor_honours_otel_bsp_variables(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    exporter = BatchRecordingExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor("batch", exporter))

    for index in range(5):
        provider.get_tracer("test").start_span(f"span-{index}").end()
    provider.force_flush()

    assert sum(exporter.batch_sizes) == 5
    assert max(exporter.batch_sizes) == 2
    provider.shutdown()


@pytest.mark.parametrize(
    ("queue_size", "largest_batch"),
    [(None, DEFAULT_EXPORT_BATCH_SIZE), ("8", 8)],
    ids=["default-queue", "queue-of-8"],
)
def test_batch_processor_exports_small_batches_unless_told_otherwise(
    monkeypatch, queue_size, largest_batch
):
    monkeypatch.delenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", raising=False)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    if queue_size is None:
        monkeypatch.delenv("OTEL_BSP_MAX_QUEUE_SIZE", raising=False)
    else:
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", queue_size)
    exporter = BatchRecordingExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor("batch", exporter))

    for index in range(3 * largest_batch):
        provider.get_tracer("test").start_span(f"span-{index}").end()
    provider.force_flush()

    assert DEFAULT_EXPORT_BATCH_SIZE == 32
    assert max(exporter.batch_sizes) == largest_batch
    provider.shutdown()


def test_traces_exporter_none_records_spans_but_exports_nothing(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    settings = Settings.from_environ()
    provider = build_tracer_provider(settings)

    span = provider.get_tracer("test").start_span("kept-local")

    assert span.is_recording()
    assert build_exporters(settings) == []
    span.end()


@pytest.mark.parametrize(
    ("sampler", "argument", "records"),
    [("always_off", None, False), ("traceidratio", "1.0", True)],
)
def test_otel_traces_sampler_is_honoured(monkeypatch, sampler, argument, records):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if argument is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", argument)
    provider = build_tracer_provider(Settings.from_environ())

    span = provider.get_tracer("test").start_span("sampled?")

    assert span.is_recording() is records
    span.end()


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_otlp_exporter_matches_the_protocol(monkeypatch, protocol):
    if protocol != {{ cookiecutter.otlp_protocol | tojson }}:
        pytest.importorskip(EXPORTER_MODULES[protocol])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)

    exporter = build_otlp_exporter(Settings.from_environ())

    assert type(exporter).__module__ == EXPORTER_MODULES[protocol]
    exporter.shutdown()


def test_missing_exporter_package_is_a_clear_configuration_error(monkeypatch):
    protocol = {{ cookiecutter.otlp_protocol | tojson }}
    monkeypatch.setitem(sys.modules, EXPORTER_MODULES[protocol], None)

    with pytest.raises(ConfigurationError, match="not installed"):
        build_otlp_exporter(Settings.from_environ())


def test_install_sets_one_global_provider_and_a_second_call_is_harmless(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    settings = Settings.from_environ()

    first = install_tracing(settings)
    second = install_tracing(settings)

    assert second is first
    assert trace.get_tracer_provider() is first.provider
    assert isinstance(first.provider, TracerProvider)


def test_startup_logs_one_line_naming_where_spans_go(settings, caplog):
    tracing = build_tracing(settings)

    with caplog.at_level(logging.INFO), TestClient(create_app(settings, tracing)):
        pass

    messages = [record.getMessage() for record in caplog.records]
    lines = [message for message in messages if message.startswith("tracing:")]
    assert len(lines) == 1
    for part in (
        f"service.name={SLUG}",
        "exporter=otlp",
        f"protocol={settings.otlp_protocol}",
        f"endpoint={settings.otlp_traces_endpoint}",
        f"processor={settings.span_processor}",
        "sampler=ParentBased",
    ):
        assert part in lines[0]


def test_shutdown_gives_up_on_a_stuck_exporter_in_bounded_time():
    exporter = StuckExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor("batch", exporter))
    provider.get_tracer("test").start_span("never-delivered").end()

    started = time.monotonic()
    finished = shutdown_tracer_provider(provider, timeout=0.5)
    elapsed = time.monotonic() - started
    exporter.release.set()

    assert finished is False
    assert elapsed < 2.0

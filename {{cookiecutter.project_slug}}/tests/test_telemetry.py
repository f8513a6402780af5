"""The tracer provider: resource, sampler, exporters, processors, install, shutdown."""

import logging
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.util._once import Once

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    build_otlp_exporter,
    build_resource,
    build_span_processor,
    build_tracer_provider,
    describe,
    install_tracing,
    shut_down,
)

from loopback_collector import LoopbackCollector

EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}


class RecordingExporter(InMemorySpanExporter):
    """Keeps the spans, the size of every export and the threads that sent them."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.batch_sizes: list[int] = []
        self.threads: set[threading.Thread] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(self.delay)
        self.batch_sizes.append(len(spans))
        self.threads.add(threading.current_thread())
        return super().export(spans)


class StuckExporter(RecordingExporter):
    """Hangs like an exporter talking to a collector that never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.threads.add(threading.current_thread())
        self.entered.set()
        self.release.wait(30)
        return super().export(spans)


def processor_settings(monkeypatch, kind: str = "batch", **variables: str) -> Settings:
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", kind)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings()


def end_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for index in range(count):
        tracer.start_span(f"span-{index}").end()


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)


@pytest.fixture
def stuck() -> Iterator[StuckExporter]:
    exporter = StuckExporter()
    yield exporter
    exporter.release.set()


@pytest.fixture
def fresh_global_provider(monkeypatch) -> None:
    """No global provider set yet; the one the test sets is forgotten after it."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)


def test_resource_names_the_service_after_its_package_with_its_version():
    attributes = build_resource().attributes

    assert attributes["service.name"] == service.__name__
    assert attributes["service.version"] == service.__version__


def test_otel_service_name_wins_over_the_package_name(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")

    assert build_resource().attributes["service.name"] == "checkout"


def test_otel_resource_attributes_are_honoured(monkeypatch):
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=staging,service.name=from-attributes",
    )

    attributes = build_resource().attributes

    assert attributes["deployment.environment.name"] == "staging"
    assert attributes["service.name"] == "from-attributes"
    assert attributes["service.version"] == service.__version__


def test_simple_processor_exports_each_span_as_it_ends(monkeypatch, capsys):
    settings = processor_settings(monkeypatch, "simple", OTEL_TRACES_EXPORTER="console")
    provider = build_tracer_provider(settings)

    with provider.get_tracer("test").start_as_current_span("exported-at-once"):
        pass
    output = ""
    deadline = time.monotonic() + 2
    while "exported-at-once" not in output and time.monotonic() < deadline:
        time.sleep(0.01)
        output += capsys.readouterr().out
    provider.shutdown()

    assert "exported-at-once" in output


def test_simple_processor_sends_each_span_within_10_ms_off_the_ending_thread(
    monkeypatch,
):
    exporter = RecordingExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        build_span_processor(processor_settings(monkeypatch, "simple"), exporter)
    )

    waits = []
    for index in range(20):
        ended = time.monotonic()
        end_spans(provider, 1)
        wait_until(lambda index=index: len(exporter.batch_sizes) > index, 2)
        waits.append(time.monotonic() - ended)
    provider.shutdown()

    # Spans that end apart leave apart, on a 10 ms schedule, not a batch's 5 s.
    assert exporter.batch_sizes == [1] * 20
    assert sorted(waits)[10] < 0.05, f"spans waited {waits} s"
    assert max(waits) < 0.5, f"spans waited {waits} s"
    assert threading.main_thread() not in exporter.threads


def test_simple_processor_keeps_up_with_spans_faster_than_one_export_each(
    monkeypatch,
):
    # 3000 spans at up to 5000 a second, against exports of 2 ms each: one span
    # per export would fall behind by thousands and overflow the 2048-span
    # queue. Spans that end during an export go together in the next one.
    exporter = RecordingExporter(delay=0.002)
    provider = TracerProvider()
    provider.add_span_processor(
        build_span_processor(processor_settings(monkeypatch, "simple"), exporter)
    )

    for _ in range(300):
        end_spans(provider, 10)
        time.sleep(0.002)
    wait_until(lambda: sum(exporter.batch_sizes) >= 3000, 10)
    provider.shutdown()

    assert len(exporter.get_finished_spans()) == 3000
    assert max(exporter.batch_sizes) <= 32


@pytest.mark.parametrize("kind", ["batch", "simple"])
def test_stuck_exporter_never_delays_the_code_that_ends_spans(monkeypatch, stuck, kind):
    provider = TracerProvider()
    provider.add_span_processor(
        build_span_processor(processor_settings(monkeypatch, kind), stuck)
    )

    started = time.monotonic()
    end_spans(provider, 200)
    elapsed = time.monotonic() - started
    stuck.release.set()
    provider.shutdown()

    assert elapsed < 0.5, f"ending 200 spans took {elapsed:.2f} s"


def test_batch_processor_holds_spans_until_flushed(monkeypatch, capsys):
    settings = processor_settings(
        monkeypatch,
        "batch",
        OTEL_TRACES_EXPORTER="console",
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    provider = build_tracer_provider(settings)

    with provider.get_tracer("test").start_as_current_span("queued"):
        pass
    held = capsys.readouterr().out
    provider.force_flush()
    flushed = capsys.readouterr().out
    provider.shutdown()

    assert "queued" not in held
    assert "queued" in flushed


@pytest.mark.parametrize(
    ("variables", "spans", "largest_batch"),
    [
        ({}, 97, 32),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "8"}, 8, 8),
        ({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2"}, 7, 2),
    ],
    ids=["32-by-default", "the-queue-when-smaller", "otel-bsp-batch-size"],
)
def test_batch_processor_exports_at_most_32_spans_at_once_unless_told(
    monkeypatch, variables, spans, largest_batch
):
    settings = processor_settings(
        monkeypatch, "batch", OTEL_BSP_SCHEDULE_DELAY="600000", **variables
    )
    exporter = RecordingExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(settings, exporter))

    end_spans(provider, spans)
    provider.force_flush()
    provider.shutdown()

    assert sum(exporter.batch_sizes) == spans
    assert max(exporter.batch_sizes) == largest_batch


def test_queue_holds_2048_spans_while_an_export_hangs_and_drops_the_rest(
    monkeypatch, stuck
):
    settings = processor_settings(
        monkeypatch, "batch", OTEL_BSP_SCHEDULE_DELAY="600000"
    )
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(settings, stuck))

    end_spans(provider, 32)  # a full batch wakes the worker, which then hangs
    assert stuck.entered.wait(5)
    end_spans(provider, 2048 + 100)
    stuck.release.set()
    provider.force_flush()
    provider.shutdown()

    assert len(stuck.get_finished_spans()) == 32 + 2048


def test_each_named_exporter_gets_the_spans_and_none_names_no_exporter(
    monkeypatch, capsys
):
    protocol = Settings().traces_protocol
    with LoopbackCollector(protocol) as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        for exporters in ("none", "console,otlp"):
            monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporters)
            provider = build_tracer_provider(Settings())
            span = provider.get_tracer("test").start_span(f"exported-by-{exporters}")
            assert span.is_recording()
            span.end()
            assert shut_down(provider, 5)
        names = [span.name for _, span in collector.spans()]

    assert names == ["exported-by-console,otlp"]
    output = capsys.readouterr().out
    assert "exported-by-console,otlp" in output
    assert "exported-by-none" not in output


@pytest.mark.parametrize(
    ("sampler", "argument", "records"),
    [
        ("always_off", None, False),
        ("traceidratio", "1.0", True),
        ("traceidratio", "0", False),
    ],
)
def test_otel_traces_sampler_is_honoured(monkeypatch, sampler, argument, records):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    if argument is not None:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", argument)
    provider = build_tracer_provider(Settings())

    span = provider.get_tracer("test").start_span("sampled?")

    assert span.is_recording() is records
    span.end()


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_otlp_exporter_matches_the_protocol(monkeypatch, protocol):
    pytest.importorskip(EXPORTER_MODULES[protocol])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)

    exporter = build_otlp_exporter(Settings())

    assert type(exporter).__module__ == EXPORTER_MODULES[protocol]
    exporter.shutdown()


def test_install_sets_one_global_provider_and_a_second_call_is_harmless(
    monkeypatch, fresh_global_provider
):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    settings = Settings()

    first = install_tracing(settings)
    second = install_tracing(settings)

    assert isinstance(first, TracerProvider)
    assert second is first
    assert trace.get_tracer_provider() is first
    assert first.resource.attributes["service.name"] == service.__name__


def test_a_provider_set_first_by_someone_else_is_the_one_used(
    caplog, fresh_global_provider
):
    theirs = TracerProvider()
    trace.set_tracer_provider(theirs)
    settings = Settings()

    with caplog.at_level(logging.WARNING):
        assert install_tracing(settings) is theirs

    assert trace.get_tracer_provider() is theirs
    # Not even an attempt to override it ("Overriding ... is not allowed").
    assert caplog.records == []


def test_startup_line_names_a_provider_that_is_not_the_sdks_by_its_type(settings):
    assert describe(settings, trace.NoOpTracerProvider()) == (
        "tracing through an externally configured NoOpTracerProvider"
    )


def test_disabled_sdk_installs_nothing_and_records_nothing(
    monkeypatch, fresh_global_provider
):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = Settings()

    provider = install_tracing(settings)

    assert not provider.get_tracer("test").start_span("dropped").is_recording()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert "OTEL_SDK_DISABLED=true" in describe(settings, provider)


def test_startup_logs_one_line_naming_where_spans_go(settings, caplog):
    provider = build_tracer_provider(settings)

    with caplog.at_level(logging.INFO), TestClient(create_app(settings, provider)):
        pass

    messages = [record.getMessage() for record in caplog.records]
    lines = [message for message in messages if message.startswith("tracing:")]
    assert len(lines) == 1
    for part in (
        f"service.name={service.__name__}",
        "exporter=otlp",
        f"protocol={settings.traces_protocol}",
        f"endpoint={settings.traces_endpoint}",
        f"processor={settings.span_processor}",
        "sampler=ParentBased",
    ):
        assert part in lines[0]


def test_shutdown_delivers_queued_spans_and_reports_success(monkeypatch):
    settings = processor_settings(
        monkeypatch, "batch", OTEL_BSP_SCHEDULE_DELAY="600000"
    )
    exporter = RecordingExporter()
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(settings, exporter))
    end_spans(provider, 3)

    assert shut_down(provider, timeout=3) is True
    assert len(exporter.get_finished_spans()) == 3


def test_shutdown_gives_up_on_a_stuck_exporter_on_a_daemon_thread(
    monkeypatch, stuck, caplog
):
    settings = processor_settings(
        monkeypatch, "batch", OTEL_BSP_SCHEDULE_DELAY="600000"
    )
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(settings, stuck))
    end_spans(provider, 1)

    started = time.monotonic()
    finished = shut_down(provider, timeout=0.5)
    elapsed = time.monotonic() - started

    assert finished is False
    assert 0.4 < elapsed < 2.0
    # The thread still stuck in the exporter cannot keep the process alive.
    assert stuck.threads and all(thread.daemon for thread in stuck.threads)
    assert any("gave up flushing spans after 0.5 s" in m for m in caplog.messages)


def test_app_shutdown_waits_at_most_service_shutdown_timeout(monkeypatch, stuck):
    settings = processor_settings(
        monkeypatch,
        "batch",
        OTEL_BSP_SCHEDULE_DELAY="600000",
        SERVICE_SHUTDOWN_TIMEOUT="0.5",
    )
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(settings, stuck))

    with TestClient(create_app(settings, provider)) as client:
        client.get("/")
        started = time.monotonic()
    elapsed = time.monotonic() - started

    assert stuck.entered.is_set()
    assert 0.4 < elapsed < 2.0


def test_app_built_without_a_provider_flushes_the_global_one_when_it_stops(
    monkeypatch, fresh_global_provider
):
    # A delay far longer than the test: only the shutdown flush can export.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", "batch")
    with LoopbackCollector(Settings().traces_protocol) as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        app = create_app(Settings())
        with TestClient(app) as client:
            assert client.get("/").status_code == 200
            time.sleep(0.2)
            held = collector.spans()
        spans = collector.wait_for_spans(1, timeout=5)

    assert held == []
    assert [span.name for _, span in spans] == ["GET /"]
    assert isinstance(trace.get_tracer_provider(), TracerProvider)

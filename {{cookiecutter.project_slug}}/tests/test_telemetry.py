"""The tracer provider: resource, sampler, exporters, processors, install, shutdown."""

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    build_otlp_exporter,
    build_resource,
    build_span_processor,
    build_tracer_provider,
    describe,
    describe_metrics,
    shut_down,
)

from loopback_collector import needs_exporter

# A batch schedule far longer than any test: only a full batch or a flush exports.
NEVER = "600000"


class RecordingExporter(InMemorySpanExporter):
    """Keeps the spans, each export's size and thread; hangs until `unstuck`."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.batch_sizes: list[int] = []
        self.threads: set[threading.Thread] = set()
        self.entered = threading.Event()
        self.unstuck = threading.Event()
        self.unstuck.set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.threads.add(threading.current_thread())
        self.entered.set()
        self.unstuck.wait(30)
        time.sleep(self.delay)
        self.batch_sizes.append(len(spans))
        return super().export(spans)


@pytest.fixture
def stuck() -> Iterator[RecordingExporter]:
    """An exporter that hangs like one talking to a collector that never answers."""
    exporter = RecordingExporter()
    exporter.unstuck.clear()
    yield exporter
    exporter.unstuck.set()


def provider_for(monkeypatch, exporter, kind: str, **variables: str) -> TracerProvider:
    """A provider with the service's processor for `kind` around `exporter`, on a
    batch schedule of NEVER unless `variables` say otherwise."""
    variables = {"OTEL_BSP_SCHEDULE_DELAY": NEVER, **variables}
    for name, value in {"SERVICE_SPAN_PROCESSOR": kind, **variables}.items():
        monkeypatch.setenv(name, value)
    provider = TracerProvider()
    provider.add_span_processor(build_span_processor(Settings(), exporter))
    return provider


def end_spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("test")
    for index in range(count):
        tracer.start_span(f"span-{index}").end()


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)


def test_resource_is_the_package_and_version_unless_otel_variables_say(monkeypatch):
    default = build_resource().attributes
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=pay,service.name=attrs")
    from_attributes = build_resource().attributes
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")

    assert default["service.name"] == service.__name__
    assert default["service.version"] == service.__version__
    assert from_attributes["team"] == "pay"
    assert from_attributes["service.name"] == "attrs"
    assert from_attributes["service.version"] == service.__version__
    assert build_resource().attributes["service.name"] == "checkout"


def test_simple_sends_each_span_within_10_ms_off_the_ending_thread(monkeypatch):
    exporter = RecordingExporter()
    # `simple` keeps its own schedule, whatever OTEL_BSP_SCHEDULE_DELAY says.
    provider = provider_for(monkeypatch, exporter, "simple")

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


def test_simple_keeps_up_with_spans_faster_than_one_export_each(monkeypatch):
    # 3000 spans at up to 5000 a second, against exports of 2 ms each: one span
    # per export would fall behind by thousands and overflow the 2048-span
    # queue. Spans that end during an export go together in the next one.
    exporter = RecordingExporter(delay=0.002)
    provider = provider_for(monkeypatch, exporter, "simple")

    for _ in range(300):
        end_spans(provider, 10)
        time.sleep(0.002)
    wait_until(lambda: sum(exporter.batch_sizes) >= 3000, 10)
    provider.shutdown()

    assert len(exporter.get_finished_spans()) == 3000
    assert max(exporter.batch_sizes) <= 32


@pytest.mark.parametrize(("delay", "sent"), [("50", True), (NEVER, False)])
def test_batch_holds_spans_for_otel_bsp_schedule_delay_or_until_a_flush(
    monkeypatch, delay, sent
):
    exporter = RecordingExporter()
    provider = provider_for(
        monkeypatch, exporter, "batch", OTEL_BSP_SCHEDULE_DELAY=delay
    )

    end_spans(provider, 1)
    wait_until(lambda: exporter.batch_sizes, 0.5)
    sent_before_the_flush = bool(exporter.batch_sizes)
    provider.force_flush()
    provider.shutdown()

    assert sent_before_the_flush is sent
    assert exporter.batch_sizes == [1]


@pytest.mark.parametrize("kind", ["batch", "simple"])
def test_stuck_exporter_never_delays_the_code_that_ends_spans(monkeypatch, stuck, kind):
    provider = provider_for(monkeypatch, stuck, kind)

    started = time.monotonic()
    end_spans(provider, 200)
    elapsed = time.monotonic() - started
    stuck.unstuck.set()
    provider.shutdown()

    assert elapsed < 0.5, f"ending 200 spans took {elapsed:.2f} s"


@pytest.mark.parametrize(
    ("variables", "spans", "largest_batch"),
    [
        ({}, 97, 32),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "8"}, 8, 8),
        ({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2"}, 7, 2),
    ],
    ids=["32-by-default", "the-queue-when-smaller", "otel-bsp-batch-size"],
)
def test_batch_exports_at_most_32_spans_at_once_unless_told(
    monkeypatch, variables, spans, largest_batch
):
    exporter = RecordingExporter()
    provider = provider_for(monkeypatch, exporter, "batch", **variables)

    end_spans(provider, spans)
    provider.force_flush()
    provider.shutdown()

    assert sum(exporter.batch_sizes) == spans
    assert max(exporter.batch_sizes) == largest_batch


def test_queue_holds_2048_spans_while_an_export_hangs_and_drops_the_rest(
    monkeypatch, stuck
):
    provider = provider_for(monkeypatch, stuck, "batch")

    end_spans(provider, 32)  # a full batch wakes the worker, which then hangs
    assert stuck.entered.wait(5)
    end_spans(provider, 2048 + 100)
    stuck.unstuck.set()
    provider.force_flush()
    provider.shutdown()

    assert len(stuck.get_finished_spans()) == 32 + 2048


def test_each_named_exporter_has_the_spans_by_shut_down_and_none_names_no_exporter(
    monkeypatch, capsys, collector
):
    for exporters in ("none", "none,console,otlp"):
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporters)
        provider = build_tracer_provider(Settings())
        span = provider.get_tracer("test").start_span(f"exported-by-{exporters}")
        assert span.is_recording()
        span.end()
        assert shut_down([provider], 5) is True

    exported = "exported-by-none,console,otlp"
    assert [span.name for _, span in collector.spans()] == [exported]
    output = capsys.readouterr().out
    assert exported in output
    assert '"exported-by-none"' not in output


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


def test_install_sets_the_global_provider_once_and_then_returns_the_one_set():
    """In a process of its own: the tests' provider is global here. A provider
    already set (the service's, or one from `opentelemetry-instrument`) is
    returned without an attempt to override it."""
    probe = f"""
import logging
from opentelemetry import metrics, trace
from {service.__name__}.settings import Settings
from {service.__name__}.telemetry import install_metrics, install_tracing
logging.basicConfig()
first = install_tracing(Settings())
second = install_tracing(Settings())
assert trace.get_tracer_provider() is first is second
first_meters = install_metrics(Settings())
assert metrics.get_meter_provider() is first_meters is install_metrics(Settings())
assert first_meters.shutdown() is None
print(first.resource.attributes["service.name"])
"""
    source = Path(__file__).resolve().parent.parent / "src"
    environment = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "console",
        "PYTHONPATH": str(source),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{service.__name__}\n"
    assert result.stderr == ""  # no "Overriding of current Tracer/MeterProvider"


@pytest.mark.parametrize("chosen", [None, "DEBUG"])
def test_grpc_core_logs_errors_only_unless_the_operator_chose(monkeypatch, chosen):
    needs_exporter("grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    if chosen:
        monkeypatch.setenv("GRPC_VERBOSITY", chosen)
    else:
        monkeypatch.delenv("GRPC_VERBOSITY", raising=False)

    build_otlp_exporter(Settings()).shutdown()

    assert os.environ["GRPC_VERBOSITY"] == (chosen or "ERROR")


def test_startup_logs_one_line_naming_where_spans_go_or_whose_provider_it_is(
    settings, caplog
):
    provider = build_tracer_provider(settings)

    with caplog.at_level(logging.INFO), TestClient(create_app(settings, provider)):
        pass

    (line,) = [m for m in caplog.messages if m.startswith("tracing:")]
    (metrics_line,) = [m for m in caplog.messages if m.startswith("metrics:")]
    assert metrics_line.startswith("metrics: exporter=otlp protocol=")
    assert line.startswith(
        f"tracing: service.name={service.__name__} exporter=otlp "
        f"protocol={settings.protocol('traces')} "
        f"endpoint={settings.endpoint('traces')} "
        f"processor={settings.span_processor} sampler=ParentBased"
    )
    assert describe(settings, trace.NoOpTracerProvider()) == (
        "tracing through an externally configured NoOpTracerProvider"
    )
    assert describe_metrics(settings, metrics.NoOpMeterProvider()) == (
        "metrics through an externally configured NoOpMeterProvider"
    )
    for exporters, named in [(("none",), "none"), (("none", "console"), "console")]:
        quiet = settings.model_copy(update={"traces_exporters": exporters})
        assert f"tracing: service.name={service.__name__} exporter={named} " + (
            f"processor={settings.span_processor} sampler="
        ) in describe(quiet, provider)
    both = settings.model_copy(update={"traces_exporters": ("console", "otlp")})
    assert " exporter=console,otlp protocol=" in describe(both, provider)
    disabled = settings.model_copy(update={"sdk_disabled": True})
    assert describe(disabled, trace.NoOpTracerProvider()) == (
        "telemetry disabled (OTEL_SDK_DISABLED=true): no spans or metrics"
    )


def test_shut_down_leaves_a_provider_it_does_not_own_alone():
    assert shut_down([trace.NoOpTracerProvider(), None], 0.1) is True


def test_shut_down_gives_up_after_its_timeout_leaving_only_a_daemon_thread(
    monkeypatch, stuck, caplog
):
    provider = provider_for(monkeypatch, stuck, "batch")
    end_spans(provider, 1)
    before = set(threading.enumerate())

    started = time.monotonic()
    finished = shut_down([provider], timeout=0.5)
    elapsed = time.monotonic() - started

    assert finished is False
    assert 0.4 < elapsed < 2.0
    # The threads still stuck on the exporter cannot keep the process alive:
    # the one shut_down started, and the processor's that exports.
    waiting = set(threading.enumerate()) - before
    assert waiting and all(thread.daemon for thread in waiting | stuck.threads)
    assert (
        "telemetry: gave up flushing 1 of 1 providers after 0.5 s; "
        "what they held is lost"
    ) in caplog.text


def test_shut_down_gives_every_provider_the_one_timeout_at_once(monkeypatch, stuck):
    providers = [provider_for(monkeypatch, stuck, "batch") for _ in range(3)]
    for provider in providers:
        end_spans(provider, 1)

    started = time.monotonic()
    assert shut_down(providers, timeout=0.5) is False
    elapsed = time.monotonic() - started

    # In parallel: three stuck providers take one timeout, not three.
    assert 0.4 < elapsed < 1.4


def test_app_stops_within_service_shutdown_timeout_3_s_by_default(monkeypatch, stuck):
    assert Settings().shutdown_timeout == 3.0
    # Shortened here: the app gives up after whatever the setting says.
    provider = provider_for(monkeypatch, stuck, "batch", SERVICE_SHUTDOWN_TIMEOUT="0.5")

    with TestClient(create_app(Settings(), provider)) as client:
        client.get("/")
        started = time.monotonic()
    elapsed = time.monotonic() - started

    assert stuck.entered.is_set()
    assert 0.4 < elapsed < 2.0


def test_the_startup_line_names_the_endpoint_without_its_user_and_password(
    monkeypatch, caplog
):
    needs_exporter("http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://alice:S3CRET@c:4318")
    settings = Settings()

    line = describe(settings, build_tracer_provider(settings))

    assert " endpoint=http://REDACTED@c:4318/v1/traces " in line
    assert "S3CRET" not in line

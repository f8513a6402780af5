"""Fixtures: a clean environment, the app traced and measured into memory,
loopback servers.

One tracer provider for the session, the service's own (resource, sampler,
redaction) with an in-memory exporter, and one meter provider with an in-memory
reader, both set as the global providers: code written the usual way,
`trace.get_tracer(__name__)` or `metrics.get_meter(__name__)` in a module of
yours, lands there as the app's does. A global logger provider too, as
`opentelemetry-instrument` sets one, so that what would reach OpenTelemetry
logs shows. `span_exporter`, `metric_reader` and `log_records` start each test
empty, so tests stay independent.
"""

import dataclasses
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi.testclient import TestClient
from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    build_meter_provider,
    build_tracer_provider,
)

from loopback_collector import LoopbackCollector, closed_port_url, http_server

SPANS = InMemorySpanExporter()
LOGS = InMemoryLogRecordExporter()
# Delta: each read holds only what was recorded since the one before.
METRICS = InMemoryMetricReader(
    preferred_temporality=dict.fromkeys(
        (Counter, UpDownCounter, Histogram), AggregationTemporality.DELTA
    )
)


def clear_service_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "SERVICE_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session", autouse=True)
def global_tracer_provider() -> TracerProvider:
    """The service's providers with the defaults, exporting into SPANS and read
    by METRICS, set once."""
    with pytest.MonkeyPatch.context() as environment:
        clear_service_variables(environment)
        environment.setenv("OTEL_TRACES_EXPORTER", "none")
        environment.setenv("OTEL_METRICS_EXPORTER", "none")
        provider = build_tracer_provider(Settings())
        meter_provider = build_meter_provider(Settings())
    provider.add_span_processor(SimpleSpanProcessor(SPANS))
    meter_provider.add_metric_reader(METRICS)
    # Each app shuts its providers down as it stops, as the service must; these
    # outlive them all.
    provider.shutdown = provider.force_flush
    meter_provider.shutdown = meter_provider.force_flush
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(meter_provider)
    logger_provider = LoggerProvider(resource=provider.resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(LOGS))
    set_logger_provider(logger_provider)
    return provider


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template's defaults, whatever the shell exports; and a downstream (for
    the client variant) on a closed port, never whatever listens on the default."""
    clear_service_variables(monkeypatch)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", closed_port_url())


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    """The spans this test ended, on the global provider and any it adds it to."""
    SPANS.clear()
    return SPANS


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """Reads what this test recorded on the global meter provider."""
    METRICS.get_metrics_data()  # earlier tests' points, read and dropped
    return METRICS


@pytest.fixture
def log_records() -> InMemoryLogRecordExporter:
    """The OpenTelemetry log records this test emitted, on the global provider."""
    LOGS.clear()
    return LOGS


@pytest.fixture
def tracer_provider(
    global_tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> TracerProvider:
    """The global provider: the service's, exporting into `span_exporter`."""
    return global_tracer_provider


@pytest.fixture
def client(settings: Settings, tracer_provider: TracerProvider) -> Iterator[TestClient]:
    with TestClient(create_app(settings, tracer_provider)) as test_client:
        yield test_client


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackCollector]:
    """A collector for the generated protocol, with the service pointed at it."""
    with LoopbackCollector(Settings().protocol("traces")) as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        yield running


@dataclasses.dataclass
class Downstream:
    """What the loopback downstream answers, and the requests it received."""

    url: str = ""
    status: int = 200
    body: bytes = b'{"message": "hello from downstream"}'
    delay: float = 0.0
    # Where a request without a query is sent on (a 302), when set.
    redirect: str = ""
    headers: list[dict[str, str]] = dataclasses.field(default_factory=list)
    paths: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
def downstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Downstream]:
    """A real HTTP downstream on loopback, set as SERVICE_DOWNSTREAM_URL."""
    behaviour = Downstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            behaviour.paths.append(self.path)
            behaviour.headers.append({k.lower(): v for k, v in self.headers.items()})
            time.sleep(behaviour.delay)
            try:
                if behaviour.redirect and "?" not in self.path:
                    self.send_response(302)
                    self.send_header("Location", behaviour.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(behaviour.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(behaviour.body)))
                self.end_headers()
                self.wfile.write(behaviour.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as a timeout test intends

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        behaviour.url = url
        monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", url)
        yield behaviour

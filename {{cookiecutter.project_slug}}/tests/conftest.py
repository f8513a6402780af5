"""Fixtures: a clean environment, the app traced into memory, loopback servers.

Each test gets the service's own provider (resource, sampler, redaction) with an
in-memory exporter added, passed to the app factory. The global provider is not
set here: the API allows it once per process.
"""

import dataclasses
import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import build_tracer_provider

from loopback_collector import LoopbackCollector, closed_port_url, http_server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template's defaults, whatever the shell exports; and a downstream (for
    the client variant) on a closed port, never whatever listens on the default."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "SERVICE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", closed_port_url())


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(
    monkeypatch: pytest.MonkeyPatch, span_exporter: InMemorySpanExporter
) -> TracerProvider:
    """The service's provider, exporting into memory instead of to a collector."""
    with monkeypatch.context() as environment:
        environment.setenv("OTEL_TRACES_EXPORTER", "none")
        provider = build_tracer_provider(Settings())
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def client(settings: Settings, tracer_provider: TracerProvider) -> Iterator[TestClient]:
    with TestClient(create_app(settings, tracer_provider)) as test_client:
        yield test_client


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackCollector]:
    """A collector for the generated protocol, with the service pointed at it."""
    with LoopbackCollector(Settings().traces_protocol) as running:
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

"""Fixtures: a clean environment, and the app traced into an in-memory exporter.

Each test gets the service's own provider (resource, sampler, redaction) with
an in-memory exporter added, passed to the app factory. The global provider is
never set or reset here: the API allows it once per process.
"""

import os
from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from the template's defaults, whatever the shell exports."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "SERVICE_")):
            monkeypatch.delenv(name)


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

"""Fixtures: a clean environment, and an app traced into an in-memory exporter.

Every test gets its own TracerProvider, passed to the app factory. The global
provider is never set or reset here: the API allows it once per process.
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
from {{ cookiecutter.project_slug }}.telemetry import Tracing, build_resource

READ_BY_THE_SERVICE = ("OTEL_", "SERVICE_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from the template's defaults, whatever the shell exports."""
    for name in list(os.environ):
        if name.startswith(READ_BY_THE_SERVICE):
            monkeypatch.delenv(name)


@pytest.fixture
def settings() -> Settings:
    return Settings.from_environ({})


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(settings: Settings, span_exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider(resource=build_resource(settings))
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return Tracing(provider, owned=False, summary="tracing into memory for tests")


@pytest.fixture
def client(settings: Settings, tracing: Tracing) -> Iterator[TestClient]:
    with TestClient(create_app(settings, tracing)) as test_client:
        yield test_client

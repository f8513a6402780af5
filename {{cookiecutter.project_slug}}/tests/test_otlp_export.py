"""Real OTLP export to a collector on loopback, configured by the standard variables."""

import socket

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import DEFAULT_OTLP_PROTOCOL, Settings
from {{ cookiecutter.project_slug }}.telemetry import build_tracing

from loopback_collector import LoopbackCollector

SLUG = "{{ cookiecutter.project_slug }}"
ROUTE = f"/{SLUG}"


@pytest.fixture
def collector():
    with LoopbackCollector(DEFAULT_OTLP_PROTOCOL) as running:
        yield running


@pytest.fixture(autouse=True)
def no_downstream(monkeypatch):
    """Point any downstream client at a closed port: these tests are about export."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", f"http://127.0.0.1:{port}")


def serve_one_request(path: str) -> None:
    settings = Settings.from_environ()
    # The app owns this tracing, so leaving the `with` block flushes and shuts down.
    with TestClient(create_app(settings, build_tracing(settings))) as client:
        client.get(path)


def test_server_span_and_its_child_arrive_with_the_service_name(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)

    serve_one_request(ROUTE)

    spans = collector.wait_for_spans(2)
    by_name = {span.name: (resource, span) for resource, span in spans}
    resource, server = by_name[f"GET {ROUTE}"]
    _, operation = by_name[f"{SLUG}_operation"]
    assert resource["service.name"] == SLUG
    assert server.kind == ProtoSpan.SPAN_KIND_SERVER
    assert operation.parent_span_id == server.span_id
    assert operation.trace_id == server.trace_id


def test_otlp_headers_variable_reaches_the_collector(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,api-key=s3cr3t")

    serve_one_request("/")

    collector.wait_for_spans(1)
    headers = collector.exports[0].headers
    assert headers["x-tenant"] == "acme"
    assert headers["api-key"] == "s3cr3t"


def test_traces_specific_endpoint_is_used_as_given(collector, monkeypatch):
    if DEFAULT_OTLP_PROTOCOL == "http/protobuf":
        endpoint = f"{collector.endpoint}/custom/traces"
        expected_path = "/custom/traces"
    else:
        endpoint, expected_path = collector.endpoint, ""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)

    serve_one_request("/")

    collector.wait_for_spans(1)
    assert collector.exports[0].path == expected_path


{% if cookiecutter.otlp_protocol == "http/protobuf" -%}
def test_gzip_compression_variable_is_honoured(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")

    serve_one_request("/")

    spans = collector.wait_for_spans(1)
    assert spans[0][1].name == "GET /"
    assert collector.exports[0].headers.get("content-encoding") == "gzip"


{% endif -%}
def test_otel_service_name_reaches_the_collector(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renamed-by-operator")

    serve_one_request("/")

    resource, _ = collector.wait_for_spans(1)[0]
    assert resource["service.name"] == "renamed-by-operator"

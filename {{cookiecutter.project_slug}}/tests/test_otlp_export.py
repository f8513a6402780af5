"""Real OTLP export to a collector on loopback, configured by the standard variables."""

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH, OPERATION
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import build_tracer_provider

from loopback_collector import LoopbackCollector

EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def no_downstream(monkeypatch):
    """Point any downstream client at a closed port: these tests are about export."""
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", closed_port_url())


@pytest.fixture(params=sorted(EXPORTER_MODULES))
def collector(request, monkeypatch) -> Iterator[LoopbackCollector]:
    """A collector on each protocol installed, and the service pointed at it."""
    pytest.importorskip(EXPORTER_MODULES[request.param])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", request.param)
    with LoopbackCollector(request.param) as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        yield running


def serve_one_request(path: str) -> None:
    settings = Settings()
    # The app shuts its provider down when it stops, which flushes the spans.
    with TestClient(create_app(settings, build_tracer_provider(settings))) as client:
        client.get(path)


def test_the_generated_protocol_delivers_the_server_span_and_its_child(monkeypatch):
    with LoopbackCollector(Settings().traces_protocol) as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)

        serve_one_request(EXAMPLE_PATH)

        spans = collector.wait_for_spans(2)
    by_name = {span.name: (resource, span) for resource, span in spans}
    resource, server = by_name[f"GET {EXAMPLE_PATH}"]
    _, operation = by_name[OPERATION]
    assert resource["service.name"] == service.__name__
    assert server.kind == ProtoSpan.SPAN_KIND_SERVER
    assert operation.parent_span_id == server.span_id
    assert operation.trace_id == server.trace_id


def test_otlp_headers_variable_reaches_the_collector(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,api-key=s3cr3t")

    serve_one_request("/")

    collector.wait_for_spans(1)
    headers = collector.exports[0].headers
    assert headers["x-tenant"] == "acme"
    assert headers["api-key"] == "s3cr3t"


def test_traces_specific_endpoint_wins_over_a_generic_one_that_is_dead(
    collector, monkeypatch
):
    # Over HTTP a path is used as given (no /v1/traces); gRPC has no path.
    path = "/custom/traces" if collector.protocol == "http/protobuf" else ""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", closed_port_url())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.endpoint + path)

    serve_one_request("/")

    _, span = collector.wait_for_spans(1)[0]
    assert span.name == "GET /"
    assert [export.path for export in collector.exports] == [path]


@pytest.mark.parametrize("collector", ["http/protobuf"], indirect=True)
def test_gzip_compression_variable_is_honoured(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")

    serve_one_request("/")

    spans = collector.wait_for_spans(1)
    assert spans[0][1].name == "GET /"
    assert collector.exports[0].headers.get("content-encoding") == "gzip"


def test_otel_service_name_reaches_the_collector(collector, monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renamed-by-operator")

    serve_one_request("/")

    resource, _ = collector.wait_for_spans(1)[0]
    assert resource["service.name"] == "renamed-by-operator"

"""Real OTLP export to a collector on loopback, configured by the standard variables."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH, OPERATION
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    build_meter_provider,
    build_tracer_provider,
)

from loopback_collector import (
    EXPORTER_MODULES,
    LoopbackCollector,
    closed_port_url,
    needs_exporter,
)


@pytest.fixture(params=sorted(EXPORTER_MODULES))
def collector(request, monkeypatch) -> Iterator[LoopbackCollector]:
    """A collector on each protocol installed, and the service pointed at it."""
    needs_exporter(request.param)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", request.param)
    with LoopbackCollector(request.param) as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        yield running


def serve_one_request(path: str) -> None:
    settings = Settings()
    # The app shuts its provider down when it stops, which flushes the spans.
    with TestClient(create_app(settings, build_tracer_provider(settings))) as client:
        client.get(path)


def test_spans_and_otel_exporter_variables_reach_the_collector(collector, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,api-key=s3cr3t")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renamed-by-operator")

    serve_one_request(EXAMPLE_PATH)

    spans = {
        span.name: (resource, span) for resource, span in collector.wait_for_spans(2)
    }
    resource, server = spans[f"GET {EXAMPLE_PATH}"]
    _, operation = spans[OPERATION]
    assert server.kind == ProtoSpan.SPAN_KIND_SERVER
    assert operation.parent_span_id == server.span_id
    assert resource["service.name"] == "renamed-by-operator"
    headers = collector.exports[0].headers
    assert (headers["x-tenant"], headers["api-key"]) == ("acme", "s3cr3t")
    if collector.protocol == "http/protobuf":  # gRPC's is not in its metadata
        assert headers["content-encoding"] == "gzip"


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


def test_the_endpoint_settings_hold_is_the_one_dialled(collector, monkeypatch):
    """The answer's default is a setting the SDK never sees: passed, not assumed."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    settings = Settings(OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint)
    providers = build_tracer_provider(settings), build_meter_provider(settings)

    with TestClient(create_app(settings, *providers)) as client:
        client.get("/")

    _, span = collector.wait_for_spans(1)[0]
    assert span.name == "GET /"
    assert "http.server.request.duration" in {m.name for _, m in collector.metrics()}


def test_fastapi_adds_no_exporter_of_its_own_even_when_asked_to(collector, monkeypatch):
    """FASTAPI_OTEL_AUTO_CONFIGURE=true would add an OTLP/HTTP exporter to the
    service's provider: every span sent twice over HTTP, or failing over gRPC."""
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")

    serve_one_request("/")

    assert [span.name for _, span in collector.wait_for_spans(1)] == ["GET /"]
    assert len(collector.exports) == 1


def test_the_last_request_durations_reach_the_collector_when_the_app_stops(
    collector,
):
    """Exported every 60 s, and flushed at shutdown: a stopped service's last
    points arrive, their exemplars naming the spans that arrived."""
    settings = Settings()
    app = create_app(
        settings, build_tracer_provider(settings), build_meter_provider(settings)
    )
    with TestClient(app) as client:
        client.get("/")
        client.get("/healthz")

    (resource, server), *_ = collector.wait_for_spans(1)
    received = {metric.name: metric for _, metric in collector.metrics()}
    (point,) = received["http.server.request.duration"].histogram.data_points
    routes = [a.value.string_value for a in point.attributes if a.key == "http.route"]
    assert (routes, point.count) == (["/"], 1)
    (exemplar,) = point.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (server.trace_id, server.span_id)
    (metrics_resource, _), *_ = collector.metrics()
    assert metrics_resource == resource
    assert len(resource["service.instance.id"]) == 36  # a UUID, one per process

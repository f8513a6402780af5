"""Server spans from FastAPI's built-in telemetry, and the example's custom span."""

import logging
import socket

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE, Settings
from {{ cookiecutter.project_slug }}.telemetry import build_resource

from span_queries import only_span, parent_id_hex, span_id_hex, trace_id_hex

PARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
VALID_TRACEPARENT = f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01"


@pytest.fixture(autouse=True)
def refused_downstream(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the client variant calls: a closed port, never whatever listens
    on the default one. The variant without the client ignores the variable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", f"http://127.0.0.1:{port}")


def test_root_answers_name_and_version_with_one_server_span(client, span_exporter):
    response = client.get("/")

    assert response.status_code == 200
    assert response.json() == {
        "name": service.__name__,
        "version": service.__version__,
    }
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "GET /"
    assert span.kind is SpanKind.SERVER


def test_server_span_carries_route_method_status_and_service_name(
    client, span_exporter
):
    # With the client, the refused downstream makes this a 502: the server
    # span is whole all the same.
    response = client.get(EXAMPLE_PATH)

    server = only_span(span_exporter.get_finished_spans(), f"GET {EXAMPLE_PATH}")
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == EXAMPLE_PATH
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == response.status_code
    assert server.resource.attributes["service.name"] == service.__name__


def test_custom_operation_span_is_a_child_of_the_server_span(client, span_exporter):
    client.get(EXAMPLE_PATH)

    spans = span_exporter.get_finished_spans()
    server = only_span(spans, f"GET {EXAMPLE_PATH}")
    operation = only_span(spans, f"{service.__name__}_operation")
    assert operation.kind is SpanKind.INTERNAL
    assert parent_id_hex(operation) == span_id_hex(server)
    assert trace_id_hex(operation) == trace_id_hex(server)


def test_health_check_makes_no_span_where_other_routes_do(client, span_exporter):
    response = client.get("/healthz")
    health_spans = span_exporter.get_finished_spans()
    client.get("/")

    assert response.json() == {"status": "ok"}
    assert health_spans == ()
    assert [span.name for span in span_exporter.get_finished_spans()] == ["GET /"]


def test_valid_incoming_traceparent_is_adopted(client, span_exporter):
    client.get("/", headers={"traceparent": VALID_TRACEPARENT})

    server = only_span(span_exporter.get_finished_spans(), "GET /")
    assert trace_id_hex(server) == PARENT_TRACE_ID
    assert parent_id_hex(server) == PARENT_SPAN_ID
    assert server.parent.is_remote


def test_malformed_traceparent_starts_a_new_trace_and_still_answers(
    client, span_exporter
):
    malformed = f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-zz"

    response = client.get("/", headers={"traceparent": malformed})

    assert response.status_code == 200
    server = only_span(span_exporter.get_finished_spans(), "GET /")
    assert server.parent is None
    assert trace_id_hex(server) != PARENT_TRACE_ID


def test_operation_spans_are_off_by_default(client, span_exporter):
    client.get("/")

    names = [span.name for span in span_exporter.get_finished_spans()]
    assert names == ["GET /"]


def test_operation_spans_setting_adds_fastapi_spans_under_the_server_span(
    tracer_provider, span_exporter, monkeypatch
):
    monkeypatch.setenv("SERVICE_OPERATION_SPANS", "true")
    with TestClient(create_app(Settings(), tracer_provider)) as client:
        client.get("/")

    spans = span_exporter.get_finished_spans()
    server = only_span(spans, "GET /")
    operation_spans = [span for span in spans if span.name.startswith("fastapi.")]
    assert operation_spans, [span.name for span in spans]
    assert all(trace_id_hex(s) == trace_id_hex(server) for s in operation_spans)


def test_lifespan_exit_flushes_queued_spans_and_shuts_the_provider_down(settings):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=build_resource())
    # A delay far longer than the test: only the shutdown flush can export.
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=600_000)
    )

    with TestClient(create_app(settings, provider)) as client:
        client.get("/")
        assert exporter.get_finished_spans() == ()

    assert [span.name for span in exporter.get_finished_spans()] == ["GET /"]
    provider.get_tracer("test").start_span("after shutdown").end()
    provider.force_flush()
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /"]


def test_disabled_sdk_serves_every_route_with_no_span_current(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with caplog.at_level(logging.INFO, logger=service.__name__):
        # No provider given: the app picks the one the settings call for.
        app = create_app(Settings())

    @app.get("/current-span")
    async def current_span() -> dict[str, bool]:
        return {"valid": trace.get_current_span().get_span_context().is_valid}

    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/current-span").json() == {"valid": False}
        # With the client, the refused downstream is what fails the example.
        example = client.get(EXAMPLE_PATH).status_code
    assert example == (200 if DOWNSTREAM_SERVICE is None else 502)
    assert "tracing disabled (OTEL_SDK_DISABLED=true)" in caplog.text


def test_server_error_marks_the_server_span_as_error(
    settings, tracer_provider, span_exporter
):
    app = create_app(settings, tracer_provider)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500

    server = only_span(span_exporter.get_finished_spans(), "GET /boom")
    assert server.status.status_code is StatusCode.ERROR

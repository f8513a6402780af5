"""Server spans from FastAPI's built-in telemetry, and the example's custom span."""

import logging

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH, OPERATION
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE, Settings

from span_queries import only_span, parent_id_hex, span_id_hex, trace_id_hex

PARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"


def test_root_answers_with_one_server_span_and_the_health_check_with_none(
    client, span_exporter
):
    health = client.get("/healthz")
    health_spans = span_exporter.get_finished_spans()
    root = client.get("/")

    assert health.json() == {"status": "ok"}
    assert health_spans == ()
    assert root.json() == {"name": service.__name__, "version": service.__version__}
    (span,) = span_exporter.get_finished_spans()
    assert (span.name, span.kind) == ("GET /", SpanKind.SERVER)


def test_the_openapi_document_names_the_service_and_its_version(
    monkeypatch, settings, tracer_provider
):
    # A release of yours: FastAPI's own default is the version generated, 0.1.0.
    monkeypatch.setattr(f"{service.__name__}.app.__version__", "2.3.4")
    with TestClient(create_app(settings, tracer_provider)) as client:
        info = client.get("/openapi.json").json()["info"]

    assert info == {"title": service.__name__, "version": "2.3.4"}


def test_example_server_span_has_route_method_status_and_the_operation_as_child(
    client, span_exporter
):
    # With the client, the downstream on a closed port makes this a 502: the
    # server span is whole all the same.
    response = client.get(EXAMPLE_PATH)

    spans = span_exporter.get_finished_spans()
    server = only_span(spans, f"GET {EXAMPLE_PATH}")
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == EXAMPLE_PATH
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == response.status_code
    operation = only_span(spans, f"{service.__name__}_operation")
    assert operation.name == OPERATION
    assert operation.kind is SpanKind.INTERNAL
    scope = operation.instrumentation_scope
    assert (scope.name, scope.version) == (service.__name__, service.__version__)
    assert parent_id_hex(operation) == span_id_hex(server)
    assert trace_id_hex(operation) == trace_id_hex(server)


@pytest.mark.parametrize(
    ("traceparent", "adopted"),
    [
        (f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01", True),
        (f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-zz", False),
    ],
    ids=["valid", "malformed"],
)
def test_a_valid_traceparent_is_adopted_and_a_malformed_one_starts_a_new_trace(
    client, span_exporter, traceparent, adopted
):
    # "1st" is a key of Level 2 that the API's own propagator would drop.
    headers = {"traceparent": traceparent, "tracestate": "1st=x"}
    response = client.get("/", headers=headers)

    assert response.status_code == 200
    server = only_span(span_exporter.get_finished_spans(), "GET /")
    assert (trace_id_hex(server) == PARENT_TRACE_ID) is adopted
    assert parent_id_hex(server) == (PARENT_SPAN_ID if adopted else None)
    if adopted:  # by the service's propagator
        assert server.parent.is_remote
        assert dict(server.parent.trace_state) == {"1st": "x"}


def test_operation_spans_setting_adds_fastapi_spans_in_the_server_spans_trace(
    tracer_provider, span_exporter, monkeypatch
):
    """Off by default: the root's one span above."""
    monkeypatch.setenv("SERVICE_OPERATION_SPANS", "true")
    with TestClient(create_app(Settings(), tracer_provider)) as client:
        client.get("/")

    spans = span_exporter.get_finished_spans()
    server = only_span(spans, "GET /")
    added = [span for span in spans if span.name.startswith("fastapi.")]
    assert added, [span.name for span in spans]
    assert all(trace_id_hex(span) == trace_id_hex(server) for span in added)


def test_lifespan_exit_flushes_queued_spans_and_shuts_the_provider_down(settings):
    """The app flushes and shuts down the provider it traces with, passed or global."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
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


def test_disabled_sdk_installs_nothing_and_serves_every_route_with_no_span(
    monkeypatch, caplog
):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    global_provider = trace.get_tracer_provider()
    with caplog.at_level(logging.INFO, logger=service.__name__):
        app = create_app(Settings())  # no provider: the settings decide

    @app.get("/current-span")
    async def current_span() -> dict[str, bool]:
        return {"valid": trace.get_current_span().get_span_context().is_valid}

    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/current-span").json() == {"valid": False}
        # With the client, the downstream on a closed port fails the example.
        example = client.get(EXAMPLE_PATH).status_code
    assert example == (200 if DOWNSTREAM_SERVICE is None else 502)
    assert trace.get_tracer_provider() is global_provider
    assert "telemetry disabled (OTEL_SDK_DISABLED=true)" in caplog.text

"""Server spans from FastAPI's built-in telemetry, and the example's custom span."""

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    Tracing,
    build_resource,
    build_tracing,
)

from span_queries import only_span, parent_id_hex, span_id_hex, trace_id_hex

SLUG = "{{ cookiecutter.project_slug }}"
ROUTE = f"/{SLUG}"
PARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
VALID_TRACEPARENT = f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01"


def test_root_answers_name_and_version_with_one_server_span(client, span_exporter):
    response = client.get("/")

    assert response.status_code == 200
    assert response.json() == {"name": SLUG, "version": "0.1.0"}
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "GET /"
    assert span.kind is SpanKind.SERVER


def test_server_span_carries_route_method_status_and_service_name(
    client, span_exporter
):
    {%- if cookiecutter.include_downstream_client %}
    # No downstream listens here; the request fails, but its server span is whole.
    {%- endif %}
    response = client.get(ROUTE)

    server = only_span(span_exporter.get_finished_spans(), f"GET {ROUTE}")
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == ROUTE
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == response.status_code
    assert server.resource.attributes["service.name"] == SLUG


def test_custom_operation_span_is_a_child_of_the_server_span(client, span_exporter):
    client.get(ROUTE)

    spans = span_exporter.get_finished_spans()
    server = only_span(spans, f"GET {ROUTE}")
    operation = only_span(spans, f"{SLUG}_operation")
    assert operation.kind is SpanKind.INTERNAL
    assert parent_id_hex(operation) == span_id_hex(server)
    assert trace_id_hex(operation) == trace_id_hex(server)


def test_health_check_makes_no_span(client, span_exporter):
    response = client.get("/healthz")

    assert response.json() == {"status": "ok"}
    assert span_exporter.get_finished_spans() == ()


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
    settings, tracing, span_exporter, monkeypatch
):
    monkeypatch.setenv("SERVICE_OPERATION_SPANS", "true")
    with TestClient(create_app(Settings.from_environ(), tracing)) as client:
        client.get("/")

    spans = span_exporter.get_finished_spans()
    server = only_span(spans, "GET /")
    operation_spans = [span for span in spans if span.name.startswith("fastapi.")]
    assert operation_spans, [span.name for span in spans]
    assert all(trace_id_hex(s) == trace_id_hex(server) for s in operation_spans)


def test_lifespan_exit_flushes_spans_still_queued_in_the_batch_processor(settings):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=build_resource(settings))
    # A delay far longer than the test: only the shutdown flush can export.
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=600_000)
    )
    app = create_app(settings, Tracing(provider, owned=True, summary="batch"))

    with TestClient(app) as client:
        client.get("/")
        assert exporter.get_finished_spans() == ()

    assert [span.name for span in exporter.get_finished_spans()] == ["GET /"]


def test_disabled_sdk_serves_every_route_without_tracing(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = Settings.from_environ()
    tracing = build_tracing(settings)

    with TestClient(create_app(settings, tracing)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
        {%- if not cookiecutter.include_downstream_client %}
        assert client.get(ROUTE).status_code == 200
        {%- endif %}
    assert not tracing.enabled
    assert "disabled" in tracing.summary


def test_server_error_marks_the_server_span_as_error(settings, tracing, span_exporter):
    app = create_app(settings, tracing)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500

    server = only_span(span_exporter.get_finished_spans(), "GET /boom")
    assert server.status.status_code is StatusCode.ERROR

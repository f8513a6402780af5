"""The downstream client against a real HTTP server on loopback (no mocked requests)."""

import asyncio
import time

import httpx
import pytest
import requests
from fastapi import HTTPException
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.downstream_client import DownstreamClient
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH, OPERATION
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE, Settings

from loopback_collector import closed_port_url
from span_queries import (
    only_span,
    parent_id_hex,
    read_metrics,
    span_id_hex,
    trace_id_hex,
)


def client_span(spans):
    (span,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    return span


def test_example_returns_the_downstream_answer_through_a_traced_client_span(
    downstream, tracer_provider, span_exporter
):
    with TestClient(create_app(Settings(), tracer_provider)) as client:
        response = client.get(EXAMPLE_PATH)

    assert response.json() == {
        "message": f"Hello from {service.__name__}",
        f"{DOWNSTREAM_SERVICE}_response": {"message": "hello from downstream"},
    }
    assert downstream.paths == [f"/{DOWNSTREAM_SERVICE}"]
    spans = span_exporter.get_finished_spans()
    outgoing = client_span(spans)
    assert parent_id_hex(outgoing) == span_id_hex(only_span(spans, OPERATION))
    # The header joins the downstream's trace to this one, at the client span.
    traceparent = downstream.headers[0]["traceparent"]
    assert traceparent[:-2] == f"00-{trace_id_hex(outgoing)}-{span_id_hex(outgoing)}-"
    assert int(traceparent[-2:], 16) & 0x01, "the sampled flag must be set"
    # The same stable HTTP attribute names as the server spans.
    assert outgoing.attributes["http.request.method"] == "GET"
    assert outgoing.attributes["url.full"] == f"{downstream.url}/{DOWNSTREAM_SERVICE}"
    assert outgoing.attributes["http.response.status_code"] == 200


def test_each_call_is_timed_inside_its_client_span_which_the_exemplar_names(
    downstream, monkeypatch, tracer_provider, span_exporter, metric_reader
):
    # Credentials in the URL, which no metric attribute may carry.
    monkeypatch.setenv(
        "SERVICE_DOWNSTREAM_URL", downstream.url.replace("//", "//u:S3CRET@")
    )
    with TestClient(create_app(Settings(), tracer_provider)) as client:
        client.get(EXAMPLE_PATH)

    outgoing = client_span(span_exporter.get_finished_spans())
    metric, (point,) = read_metrics(metric_reader)["http.client.request.duration"]
    assert (metric.unit, point.count) == ("s", 1)
    assert point.attributes["http.response.status_code"] == 200
    assert "S3CRET" not in str(dict(point.attributes))
    (exemplar,) = point.exemplars
    assert format(exemplar.trace_id, "032x") == trace_id_hex(outgoing)
    assert format(exemplar.span_id, "016x") == span_id_hex(outgoing)


def test_with_metrics_off_no_call_is_timed_on_any_provider(
    downstream, monkeypatch, tracer_provider, metric_reader
):
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    with TestClient(create_app(Settings(), tracer_provider)) as client:
        assert client.get(EXAMPLE_PATH).status_code == 200

    assert read_metrics(metric_reader) == {}


def test_client_span_url_carries_no_query_value(
    downstream, settings, tracer_provider, span_exporter
):
    # Building the client traces every `requests` call with the provider.
    DownstreamClient(settings, tracer_provider)
    url = f"{downstream.url}/{DOWNSTREAM_SERVICE}"

    requests.get(f"{url}?token=s3cr3t-token&email=alice@example.com", timeout=5)

    assert downstream.paths == [
        f"/{DOWNSTREAM_SERVICE}?token=s3cr3t-token&email=alice@example.com"
    ]
    outgoing = client_span(span_exporter.get_finished_spans())
    assert outgoing.attributes["url.full"] == f"{url}?token=REDACTED&email=REDACTED"
    recorded = repr(dict(outgoing.attributes))
    assert "s3cr3t-token" not in recorded
    assert "alice@example.com" not in recorded


@pytest.mark.parametrize(
    ("answer", "expected", "client"),
    [
        ({"status": 500}, (502, "answered HTTP 500"), StatusCode.ERROR),
        (
            {"body": b"<html>not json</html>"},
            (502, "answered non-JSON"),
            StatusCode.UNSET,
        ),
        (None, (502, "unreachable (ConnectionError)"), StatusCode.ERROR),
        ({"delay": 2.0}, (504, "timed out"), StatusCode.ERROR),
    ],
    ids=[
        "downstream-500",
        "downstream-not-json",
        "refused",
        "slower-than-read-timeout",
    ],
)
def test_a_failed_downstream_call_answers_502_or_504_in_time_with_error_spans(
    downstream, tracer_provider, span_exporter, monkeypatch, answer, expected, client
):
    if answer is None:  # nothing listens
        monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", closed_port_url())
    else:
        for name, value in answer.items():
            setattr(downstream, name, value)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_READ_TIMEOUT", "0.3")

    with TestClient(create_app(Settings(), tracer_provider)) as test_client:
        started = time.monotonic()
        response = test_client.get(EXAMPLE_PATH)
        elapsed = time.monotonic() - started

    status, detail = expected
    assert response.status_code == status
    assert response.json() == {"detail": f"{DOWNSTREAM_SERVICE}: {detail}"}
    assert elapsed < 0.3 + 0.5
    spans = span_exporter.get_finished_spans()
    operation = only_span(spans, OPERATION)
    assert operation.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in operation.events)
    server = only_span(spans, f"GET {EXAMPLE_PATH}")
    assert server.status.status_code is StatusCode.ERROR
    assert client_span(spans).status.status_code is client


def test_downstream_timeouts_are_1_s_to_connect_and_5_s_to_read_unless_set(
    monkeypatch, tracer_provider
):
    assert DownstreamClient(Settings(), tracer_provider).timeout == (1.0, 5.0)

    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", "http://elsewhere:9000/apiX/")
    monkeypatch.setenv("SERVICE_DOWNSTREAM_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("SERVICE_DOWNSTREAM_READ_TIMEOUT", "3")
    downstream = DownstreamClient(Settings(), tracer_provider)

    assert downstream.base_url == "http://elsewhere:9000/apiX"
    assert downstream.timeout == (0.5, 3.0)


def test_concurrent_calls_do_not_wait_for_each_other(downstream, tracer_provider):
    """The blocking call runs in the thread pool, never on the event loop."""
    downstream.delay = 0.3
    app = create_app(Settings(), tracer_provider)

    async def five_concurrent_calls() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            started = time.monotonic()
            responses = await asyncio.gather(*(c.get(EXAMPLE_PATH) for _ in range(5)))
            assert all(r.status_code == 200 for r in responses)
            return time.monotonic() - started

    elapsed = asyncio.run(five_concurrent_calls())

    # Serialised on the event loop, five calls would take at least 5 x 0.3 s.
    assert elapsed < 5 * 0.3, f"five concurrent calls took {elapsed:.2f} s"
    assert len(downstream.paths) == 5


SECRET = "S3CRET"


@pytest.mark.parametrize("how", ["userinfo-in-the-url", "token-in-a-redirect"])
def test_a_failed_call_puts_no_credential_of_its_urls_on_any_span(
    downstream, tracer_provider, span_exporter, monkeypatch, how
):
    """requests' own message names the URL: `404 Client Error: ... for url: ...`."""
    downstream.status = 404
    if how == "userinfo-in-the-url":
        credentials = downstream.url.replace("http://", f"http://du:{SECRET}@")
        monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", credentials)
    else:
        downstream.redirect = f"/elsewhere?token={SECRET}"

    with TestClient(create_app(Settings(), tracer_provider)) as test_client:
        response = test_client.get(EXAMPLE_PATH)

    assert response.status_code == 502
    spans = span_exporter.get_finished_spans()
    (event,) = only_span(spans, OPERATION).events
    assert "404 Client Error" in event.attributes["exception.stacktrace"]
    assert "REDACTED" in event.attributes["exception.stacktrace"]
    for span in spans:
        assert SECRET not in span.to_json(), span.name
    assert SECRET not in response.text


def nested(depth: int, object_every: int = 0) -> bytes:
    """`depth` levels of lists, every `object_every`-th of them an object."""
    levels = [
        ('{"k":', "}") if object_every and i % object_every == 0 else ("[", "]")
        for i in range(depth)
    ]
    return (
        "".join(o for o, _ in levels).encode()
        + b"1"
        + "".join(c for _, c in reversed(levels)).encode()
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (nested(100), 200),
        (nested(101), 502),
        (nested(101, object_every=2), 502),
        (nested(101, object_every=1), 502),
        (nested(100_000), 502),
    ],
    ids=["100-levels", "101-levels", "101-mixed", "101-objects", "100000-levels"],
)
def test_a_json_answer_nested_deeper_than_100_levels_is_a_502(
    downstream, tracer_provider, body, status
):
    downstream.body = body

    with TestClient(create_app(Settings(), tracer_provider)) as test_client:
        response = test_client.get(EXAMPLE_PATH)

    assert response.status_code == status
    if status == 502:
        detail = "answered JSON nested deeper than 100 levels"
        assert response.json() == {"detail": f"{DOWNSTREAM_SERVICE}: {detail}"}


def test_fetch_takes_any_path_of_the_downstream_with_the_same_tracing(
    downstream, settings, tracer_provider, span_exporter
):
    """A second endpoint, as a route of yours would call it; a path never
    leaves the downstream's host."""
    client = DownstreamClient(Settings(), tracer_provider)
    downstream.body = b'[{"id": 1}]'
    paths = ["/refunds", "refunds/1", "//x", "/X-ray"]

    answers = [client.fetch(path) for path in paths]

    assert answers == [[{"id": 1}]] * 4
    assert downstream.paths == ["/refunds", "/refunds/1", "/x", "/X-ray"]
    urls = [s.attributes["url.full"] for s in span_exporter.get_finished_spans()]
    assert urls == [f"{downstream.url}{path}" for path in downstream.paths]


def test_the_client_traces_with_the_provider_it_is_given(downstream, span_exporter):
    """Not the global one: a provider of a test's own, or an agent's."""
    own = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(own))

    DownstreamClient(Settings(), provider).fetch("/refunds")

    assert [s.kind for s in own.get_finished_spans()] == [SpanKind.CLIENT]
    assert span_exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("answer", "status"), [({"status": 404}, 502), ({"delay": 1.0}, 504)]
)
def test_fetch_on_any_path_answers_502_or_504_within_the_timeouts(
    downstream, monkeypatch, tracer_provider, answer, status
):
    for name, value in answer.items():
        setattr(downstream, name, value)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_READ_TIMEOUT", "0.3")
    client = DownstreamClient(Settings(), tracer_provider)

    started = time.monotonic()
    with pytest.raises(HTTPException) as failed:
        client.fetch("/refunds")

    assert failed.value.status_code == status
    assert time.monotonic() - started < 0.3 + 0.5

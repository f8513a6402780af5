"""The downstream client against a real HTTP server on loopback (no mocked requests)."""

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind, StatusCode

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.downstream_client import DownstreamClient
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH, OPERATION
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE, Settings

from span_queries import only_span, parent_id_hex, span_id_hex, trace_id_hex


@dataclasses.dataclass
class Downstream:
    """What the loopback downstream answers, and the requests it received."""

    url: str = ""
    status: int = 200
    body: bytes = b'{"message": "hello from downstream"}'
    delay: float = 0.0
    received_headers: list[dict[str, str]] = dataclasses.field(default_factory=list)
    paths: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
def downstream() -> Iterator[Downstream]:
    behaviour = Downstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            behaviour.paths.append(self.path)
            behaviour.received_headers.append(
                {key.lower(): value for key, value in self.headers.items()}
            )
            time.sleep(behaviour.delay)
            try:
                self.send_response(behaviour.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(behaviour.body)))
                self.end_headers()
                self.wfile.write(behaviour.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as the timeout test intends

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    behaviour.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield behaviour
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def app_for(tracer_provider, monkeypatch) -> Callable[..., FastAPI]:
    """The service, calling the downstream at `url` (set as an operator would)."""

    def build(url: str, read_timeout: float = 2.0) -> FastAPI:
        monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", url)
        monkeypatch.setenv("SERVICE_DOWNSTREAM_READ_TIMEOUT", str(read_timeout))
        return create_app(Settings(), tracer_provider)

    return build


def client_span(spans):
    (span,) = [s for s in spans if s.kind is SpanKind.CLIENT]
    return span


def test_example_returns_the_downstream_answer(downstream, app_for):
    with TestClient(app_for(downstream.url)) as client:
        response = client.get(EXAMPLE_PATH)

    assert response.status_code == 200
    assert response.json() == {
        "message": f"Hello from {service.__name__}",
        f"{DOWNSTREAM_SERVICE}_response": {"message": "hello from downstream"},
    }
    assert downstream.paths == [f"/{DOWNSTREAM_SERVICE}"]


def test_outgoing_request_carries_traceparent_of_the_client_span(
    downstream, app_for, span_exporter
):
    with TestClient(app_for(downstream.url)) as client:
        client.get(EXAMPLE_PATH)

    spans = span_exporter.get_finished_spans()
    outgoing = client_span(spans)
    operation = only_span(spans, OPERATION)
    version, trace_id, parent_id, flags = downstream.received_headers[0][
        "traceparent"
    ].split("-")
    assert version == "00"
    assert int(flags, 16) & 0x01, "the sampled flag must be set"
    assert trace_id == trace_id_hex(outgoing)
    assert parent_id == span_id_hex(outgoing)
    assert parent_id_hex(outgoing) == span_id_hex(operation)


def test_client_span_uses_the_same_http_attribute_names_as_the_server_span(
    downstream, app_for, span_exporter
):
    with TestClient(app_for(downstream.url)) as client:
        client.get(EXAMPLE_PATH)

    outgoing = client_span(span_exporter.get_finished_spans())
    assert outgoing.attributes["http.request.method"] == "GET"
    assert outgoing.attributes["url.full"] == f"{downstream.url}/{DOWNSTREAM_SERVICE}"
    assert outgoing.attributes["http.response.status_code"] == 200


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
    ("status", "body", "detail"),
    [
        (500, b'{"error": "boom"}', "answered HTTP 500"),
        (200, b"<html>not json</html>", "answered non-JSON"),
    ],
    ids=["downstream-500", "downstream-not-json"],
)
def test_bad_downstream_answer_gives_502_and_an_error_span(
    downstream, app_for, span_exporter, status, body, detail
):
    downstream.status, downstream.body = status, body
    with TestClient(app_for(downstream.url)) as client:
        response = client.get(EXAMPLE_PATH)

    assert response.status_code == 502
    assert response.json() == {"detail": f"{DOWNSTREAM_SERVICE}: {detail}"}
    operation = only_span(span_exporter.get_finished_spans(), OPERATION)
    assert operation.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in operation.events)


def test_refused_connection_gives_502_and_error_spans(app_for, span_exporter):
    with TestClient(app_for(refused_url())) as client:
        response = client.get(EXAMPLE_PATH)

    assert response.status_code == 502
    assert response.json() == {
        "detail": f"{DOWNSTREAM_SERVICE}: unreachable (ConnectionError)"
    }
    spans = span_exporter.get_finished_spans()
    assert client_span(spans).status.status_code is StatusCode.ERROR
    server = only_span(spans, f"GET {EXAMPLE_PATH}")
    assert server.status.status_code is StatusCode.ERROR


def test_downstream_slower_than_the_read_timeout_gives_504_in_time(
    downstream, app_for, span_exporter
):
    downstream.delay = 2.0
    with TestClient(app_for(downstream.url, read_timeout=0.3)) as client:
        started = time.monotonic()
        response = client.get(EXAMPLE_PATH)
        elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.json() == {"detail": f"{DOWNSTREAM_SERVICE}: timed out"}
    assert elapsed < 0.3 + 0.5
    operation = only_span(span_exporter.get_finished_spans(), OPERATION)
    assert operation.status.status_code is StatusCode.ERROR


def test_downstream_timeouts_are_1_s_to_connect_and_5_s_to_read_by_default(
    settings, tracer_provider
):
    assert DownstreamClient(settings, tracer_provider).timeout == (1.0, 5.0)


def test_downstream_url_and_timeouts_come_from_the_environment(
    monkeypatch, tracer_provider
):
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", "http://elsewhere:9000/")
    monkeypatch.setenv("SERVICE_DOWNSTREAM_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("SERVICE_DOWNSTREAM_READ_TIMEOUT", "3")

    downstream = DownstreamClient(Settings(), tracer_provider)

    assert downstream.url == f"http://elsewhere:9000/{DOWNSTREAM_SERVICE}"
    assert downstream.timeout == (0.5, 3.0)


def test_concurrent_calls_do_not_wait_for_each_other(downstream, app_for):
    """The blocking call runs in the thread pool, never on the event loop."""
    downstream.delay = 0.3
    app = app_for(downstream.url)

    async def five_concurrent_calls() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            started = time.monotonic()
            responses = await asyncio.gather(*(c.get(EXAMPLE_PATH) for _ in range(5)))
            assert all(r.status_code == 200 for r in responses)
            return time.monotonic() - started

    elapsed = asyncio.run(five_concurrent_calls())

    # Serialised on the event loop, five calls would take 5 x 0.3 s.
    assert elapsed < 2 * 0.3, f"five concurrent calls took {elapsed:.2f} s"
    assert len(downstream.paths) == 5

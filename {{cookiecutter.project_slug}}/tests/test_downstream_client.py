"""The downstream client against a real HTTP server on loopback (no mocked requests)."""

import asyncio
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind, StatusCode

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.settings import Settings

from span_queries import only_span, parent_id_hex, span_id_hex, trace_id_hex

SLUG = "{{ cookiecutter.project_slug }}"
ROUTE = f"/{SLUG}"
DOWNSTREAM = {{ cookiecutter.downstream_service | tojson }}


@dataclasses.dataclass
class Downstream:
    """What the loopback downstream answers, and the headers it received."""

    status: int = 200
    body: bytes = b'{"message": "hello from downstream"}'
    delay: float = 0.0
    received_headers: list[dict[str, str]] = dataclasses.field(default_factory=list)
    paths: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
def downstream() -> Iterator[tuple[Downstream, str]]:
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
    try:
        yield behaviour, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def settings_for(url: str, read_timeout: float = 2.0) -> Settings:
    return dataclasses.replace(
        Settings.from_environ({}),
        downstream_url=url,
        downstream_read_timeout=read_timeout,
    )


@pytest.fixture
def app_for(tracing):
    def build(url: str, read_timeout: float = 2.0):
        return create_app(settings_for(url, read_timeout), tracing)

    return build


def test_example_returns_the_downstream_answer(downstream, app_for):
    behaviour, url = downstream
    with TestClient(app_for(url)) as client:
        response = client.get(ROUTE)

    assert response.status_code == 200
    assert response.json() == {
        "message": f"Hello from {SLUG}",
        f"{DOWNSTREAM}_response": {"message": "hello from downstream"},
    }
    assert behaviour.paths == [f"/{DOWNSTREAM}"]


def test_outgoing_request_carries_traceparent_of_the_client_span(
    downstream, app_for, span_exporter
):
    behaviour, url = downstream
    with TestClient(app_for(url)) as client:
        client.get(ROUTE)

    spans = span_exporter.get_finished_spans()
    client_span = next(s for s in spans if s.kind is SpanKind.CLIENT)
    operation = only_span(spans, f"{SLUG}_operation")
    version, trace_id, parent_id, flags = behaviour.received_headers[0][
        "traceparent"
    ].split("-")
    assert version == "00"
    assert int(flags, 16) & 0x01, "the sampled flag must be set"
    assert trace_id == trace_id_hex(client_span)
    assert parent_id == span_id_hex(client_span)
    assert parent_id_hex(client_span) == span_id_hex(operation)


def test_client_span_uses_the_same_http_attribute_names_as_the_server_span(
    downstream, app_for, span_exporter
):
    _, url = downstream
    with TestClient(app_for(url)) as client:
        client.get(ROUTE)

    spans = span_exporter.get_finished_spans()
    client_span = next(s for s in spans if s.kind is SpanKind.CLIENT)
    assert client_span.attributes["http.request.method"] == "GET"
    assert client_span.attributes["url.full"] == f"{url}/{DOWNSTREAM}"
    assert client_span.attributes["http.response.status_code"] == 200


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b'{"error": "boom"}'), (200, b"<html>not json</html>")],
    ids=["downstream-500", "downstream-not-json"],
)
def test_bad_downstream_answer_gives_502_and_an_error_span(
    downstream, app_for, span_exporter, status, body
):
    behaviour, url = downstream
    behaviour.status, behaviour.body = status, body
    with TestClient(app_for(url)) as client:
        response = client.get(ROUTE)

    assert response.status_code == 502
    assert response.json()["downstream"] == DOWNSTREAM
    operation = only_span(span_exporter.get_finished_spans(), f"{SLUG}_operation")
    assert operation.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in operation.events)


def test_refused_connection_gives_502_and_error_spans(app_for, span_exporter):
    with TestClient(app_for(refused_url())) as client:
        response = client.get(ROUTE)

    assert response.status_code == 502
    assert "unreachable" in response.json()["detail"]
    spans = span_exporter.get_finished_spans()
    client_span = next(s for s in spans if s.kind is SpanKind.CLIENT)
    assert client_span.status.status_code is StatusCode.ERROR
    server = only_span(spans, f"GET {ROUTE}")
    assert server.status.status_code is StatusCode.ERROR


def test_downstream_slower_than_the_read_timeout_gives_504_in_time(
    downstream, app_for, span_exporter
):
    behaviour, url = downstream
    behaviour.delay = 2.0
    with TestClient(app_for(url, read_timeout=0.3)) as client:
        started = time.monotonic()
        response = client.get(ROUTE)
        elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert elapsed < 0.3 + 0.5
    operation = only_span(span_exporter.get_finished_spans(), f"{SLUG}_operation")
    assert operation.status.status_code is StatusCode.ERROR


def test_downstream_timeouts_come_from_the_environment():
    settings = Settings.from_environ(
        {
            "SERVICE_DOWNSTREAM_URL": "http://elsewhere:9000/",
            "SERVICE_DOWNSTREAM_CONNECT_TIMEOUT": "0.5",
            "SERVICE_DOWNSTREAM_READ_TIMEOUT": "3",
        }
    )

    assert settings.downstream_url == "http://elsewhere:9000"
    assert settings.downstream_connect_timeout == 0.5
    assert settings.downstream_read_timeout == 3.0


def test_concurrent_calls_do_not_wait_for_each_other(downstream, app_for):
    """The blocking call runs in the thread pool, never on the event loop."""
    behaviour, url = downstream
    behaviour.delay = 0.3
    app = app_for(url)

    async def five_concurrent_calls() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            started = time.monotonic()
            responses = await asyncio.gather(*(c.get(ROUTE) for _ in range(5)))
            assert all(r.status_code == 200 for r in responses)
            return time.monotonic() - started

    elapsed = asyncio.run(five_concurrent_calls())

    # Serialised on the event loop, five calls would take 5 x 0.3 s.
    assert elapsed < 2 * 0.3, f"five concurrent calls took {elapsed:.2f} s"
    assert len(behaviour.paths) == 5


def test_error_body_is_json_naming_the_downstream(app_for):
    with TestClient(app_for(refused_url())) as client:
        body = json.loads(client.get(ROUTE).content)

    assert body["error"] == "downstream_failed"
    assert body["downstream"] == DOWNSTREAM

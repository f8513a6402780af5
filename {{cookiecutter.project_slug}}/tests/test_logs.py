"""Log lines carry the service name and the ids of the span they were logged in."""

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from uvicorn.logging import AccessFormatter

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.logs import (
    JsonFormatter,
    TextFormatter,
    TraceContextFilter,
    build_handler,
    configure_logging,
)
from {{ cookiecutter.project_slug }}.settings import ConfigurationError, Settings
from {{ cookiecutter.project_slug }}.telemetry import Tracing

from span_queries import only_span, span_id_hex, trace_id_hex

PACKAGE = create_app.__module__.split(".")[0]
PROJECT_DIR = Path(__file__).resolve().parent.parent
REQUEST_LOGGER = f"{PACKAGE}.request"
# A W3C traceparent whose trace id the service must adopt and print.
PARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01"


class Captured:
    """Lines written by a correlated handler attached to some loggers."""

    def __init__(self, log_format: str) -> None:
        self.stream = io.StringIO()
        self.handler = build_handler(self.stream, log_format, PACKAGE)

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]


@pytest.fixture
def capture() -> Iterator:
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def attach(log_format: str, *names: str) -> Captured:
        captured = Captured(log_format)
        for name in names:
            logger = logging.getLogger(name)
            attached.append((logger, captured.handler, logger.level))
            logger.addHandler(captured.handler)
            logger.setLevel(logging.INFO)
        return captured

    yield attach
    for logger, handler, level in attached:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def app(settings: Settings, tracing: Tracing) -> FastAPI:
    """The service, plus one route that logs and one that fails."""
    service = create_app(settings, tracing)

    @service.get("/logs-a-line")
    async def logs_a_line() -> dict[str, str]:
        logging.getLogger(REQUEST_LOGGER).info("handling the request")
        return {"logged": "yes"}

    @service.get("/fails")
    async def fails() -> None:
        raise RuntimeError("the handler failed")

    return service


def server_span_ids(span_exporter: InMemorySpanExporter, route: str) -> tuple[str, str]:
    server = only_span(span_exporter.get_finished_spans(), f"GET {route}")
    return trace_id_hex(server), span_id_hex(server)


def test_a_text_line_logged_in_a_request_carries_the_server_spans_ids(
    app, capture, span_exporter
):
    captured = capture("text", REQUEST_LOGGER)

    with TestClient(app) as client:
        client.get("/logs-a-line")

    trace_id, span_id = server_span_ids(span_exporter, "/logs-a-line")
    (line,) = [line for line in captured.lines() if "handling the request" in line]
    assert f"[service={PACKAGE} trace_id={trace_id} span_id={span_id}]" in line


def test_a_json_line_logged_in_a_request_parses_and_carries_the_ids(
    app, capture, span_exporter
):
    captured = capture("json", REQUEST_LOGGER)

    with TestClient(app) as client:
        client.get("/logs-a-line", headers={"traceparent": TRACEPARENT})

    trace_id, span_id = server_span_ids(span_exporter, "/logs-a-line")
    (line,) = [json.loads(line) for line in captured.lines()]
    assert line["message"] == "handling the request"
    assert line["logger"] == REQUEST_LOGGER
    assert line["service_name"] == PACKAGE
    assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)
    assert trace_id == PARENT_TRACE_ID


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_line_logged_outside_a_request_has_no_ids(capture, log_format):
    captured = capture(log_format, REQUEST_LOGGER)

    logging.getLogger(REQUEST_LOGGER).info("no request here")

    (line,) = captured.lines()
    assert "trace_id" not in line
    assert "span_id" not in line
    assert PACKAGE in line


def test_the_exception_line_logged_after_a_failed_request_carries_its_ids(
    app, capture, span_exporter
):
    captured = capture("text", "uvicorn.error")
    with TestClient(app) as client, pytest.raises(RuntimeError) as raised:
        client.get("/fails")

    # What uvicorn does once the app has raised, when no span is current any more.
    logging.getLogger("uvicorn.error").error(
        "Exception in ASGI application\n", exc_info=raised.value
    )

    trace_id, span_id = server_span_ids(span_exporter, "/fails")
    first_line = captured.lines()[0]
    assert "Exception in ASGI application" in first_line
    assert f"trace_id={trace_id} span_id={span_id}" in first_line


@pytest.fixture
def uvicorn_access_handler() -> Iterator[logging.Handler]:
    """A handler like the one uvicorn's LOGGING_CONFIG puts on uvicorn.access."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s"'))
    access_logger = logging.getLogger("uvicorn.access")
    level = access_logger.level
    access_logger.setLevel(logging.INFO)
    access_logger.addHandler(handler)
    yield handler
    access_logger.removeHandler(handler)
    access_logger.setLevel(level)
    access_logger.disabled = False


def test_configure_logging_gives_uvicorns_handlers_the_ids_and_the_format(
    uvicorn_access_handler, monkeypatch
):
    monkeypatch.setenv("SERVICE_LOG_FORMAT", "json")

    configure_logging()
    configure_logging()

    filters = list(uvicorn_access_handler.filters)
    assert len(filters) == 1
    assert isinstance(filters[0], TraceContextFilter)
    assert isinstance(uvicorn_access_handler.formatter, JsonFormatter)


def test_configure_logging_keeps_a_formatter_someone_chose(
    uvicorn_access_handler, tracing
):
    chosen = logging.Formatter("%(trace_id)s %(span_id)s %(message)s")
    uvicorn_access_handler.setFormatter(chosen)

    configure_logging(Settings.from_environ({}))
    with tracing.provider.get_tracer("test").start_as_current_span("work") as span:
        logging.getLogger("uvicorn.access").info("served")

    assert uvicorn_access_handler.formatter is chosen
    line = uvicorn_access_handler.stream.getvalue().strip()
    ids = span.get_span_context()
    assert line == f"{ids.trace_id:032x} {ids.span_id:016x} served"


def test_access_log_off_stops_uvicorns_access_lines_before_they_are_made(
    uvicorn_access_handler,
):
    access_logger = logging.getLogger("uvicorn.access")

    configure_logging(Settings.from_environ({"SERVICE_ACCESS_LOG": "false"}))
    access_logger.info("served while off")
    off = access_logger.isEnabledFor(logging.INFO)
    configure_logging(Settings.from_environ({}))
    access_logger.info("served while on")

    assert not off
    lines = uvicorn_access_handler.stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("served while on")


def test_log_format_is_text_unless_the_environment_says_json():
    text = Settings.from_environ({}).log_format
    json_format = Settings.from_environ({"SERVICE_LOG_FORMAT": "JSON"}).log_format

    assert isinstance(build_handler(io.StringIO(), text, "x").formatter, TextFormatter)
    assert json_format == "json"


def test_an_unknown_log_format_names_the_variable():
    with pytest.raises(ConfigurationError, match="SERVICE_LOG_FORMAT"):
        Settings.from_environ({"SERVICE_LOG_FORMAT": "yaml"})


# Real uvicorn, in both ways the README starts the service.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(
    command: list[str], port: int, log_format: str, extra_env: dict[str, str]
) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR / "src"),
        # Spans are still made, with real ids; they just go nowhere.
        "OTEL_TRACES_EXPORTER": "none",
        "SERVICE_PORT": str(port),
        "SERVICE_LOG_FORMAT": log_format,
        **extra_env,
    }
    return subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_healthy(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited: {process.communicate()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the service did not answer /healthz within 20 s")


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return stdout + stderr


UVICORN_FACTORY = [
    sys.executable,
    "-m",
    "uvicorn",
    "--factory",
    f"{PACKAGE}.app:create_app",
]
LAUNCHES = {
    "python -m": ([sys.executable, "-m", PACKAGE], "json", {}),
    "uvicorn --factory": (UVICORN_FACTORY, "text", {}),
    "access log off": (UVICORN_FACTORY, "text", {"SERVICE_ACCESS_LOG": "false"}),
}


def test_uvicorn_access_lines_carry_the_request_ids_however_it_is_started():
    """The launches run side by side, so the test pays one start-up, not three."""
    running = {}
    for name, (command, log_format, extra_env) in LAUNCHES.items():
        port = free_port()
        port_option = ["--port", str(port)] if "--factory" in command else []
        running[name] = (
            port,
            start_service(command + port_option, port, log_format, extra_env),
        )
    outputs = {}
    try:
        for port, process in running.values():
            wait_until_healthy(port, process)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/", headers={"traceparent": TRACEPARENT}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
    finally:
        for name, (_, process) in running.items():
            outputs[name] = stop(process)

    json_lines = [json.loads(line) for line in outputs["python -m"].splitlines()]
    (access,) = [
        line
        for line in json_lines
        if line["logger"] == "uvicorn.access" and '"GET / ' in line["message"]
    ]
    assert access["trace_id"] == PARENT_TRACE_ID
    assert re.fullmatch("[0-9a-f]{16}", access["span_id"])
    assert access["span_id"] != PARENT_SPAN_ID
    assert access["service_name"] == PACKAGE
    started = [
        line for line in json_lines if "Started server process" in line["message"]
    ]
    assert started and "trace_id" not in started[0]

    (text_access,) = [
        line for line in outputs["uvicorn --factory"].splitlines() if '"GET / ' in line
    ]
    assert re.search(
        rf"uvicorn\.access \[service={PACKAGE} trace_id={PARENT_TRACE_ID} "
        r"span_id=[0-9a-f]{16}\]",
        text_access,
    )

    quiet = outputs["access log off"]
    assert "Started server process" in quiet
    assert '"GET / ' not in quiet

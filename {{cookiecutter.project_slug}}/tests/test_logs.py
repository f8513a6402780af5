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
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from uvicorn.logging import AccessFormatter, DefaultFormatter

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.logs import (
    JsonFormatter,
    TextFormatter,
    TraceContextFilter,
    configure_logging,
)
from {{ cookiecutter.project_slug }}.settings import Settings, load_settings

from span_queries import only_span, span_id_hex, trace_id_hex

PACKAGE = service.__name__
PROJECT_DIR = Path(__file__).resolve().parent.parent
# A module logger inside the service's package, as the service's code would use.
REQUEST_LOGGER = f"{PACKAGE}.request"
# A W3C traceparent whose trace id the service must adopt and print.
PARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01"


def json_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SERVICE_LOG_FORMAT", "json")
    return Settings()


class Captured:
    """What a plain handler on some loggers wrote, once configure_logging set it up."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)

    def lines(self, containing: str = "") -> list[str]:
        return [
            line
            for line in self.stream.getvalue().splitlines()
            if line and containing in line
        ]


@pytest.fixture
def capture() -> Iterator[Callable[..., Captured]]:
    """Attach a handler to loggers configure_logging looks after (the service's,
    uvicorn's); the app, or the test, configures it."""
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def attach(*names: str) -> Captured:
        captured = Captured()
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
    logging.getLogger("uvicorn.access").disabled = False


@pytest.fixture
def build_app(tracer_provider) -> Callable[[Settings], FastAPI]:
    """The service, plus one route that logs and one that fails."""

    def build(settings: Settings) -> FastAPI:
        app = create_app(settings, tracer_provider)

        @app.get("/logs-a-line")
        async def logs_a_line() -> dict[str, str]:
            logging.getLogger(REQUEST_LOGGER).info("handling the request")
            return {"logged": "yes"}

        @app.get("/fails")
        async def fails() -> None:
            raise RuntimeError("the handler failed")

        return app

    return build


def server_span_ids(span_exporter: InMemorySpanExporter, route: str) -> tuple[str, str]:
    server = only_span(span_exporter.get_finished_spans(), f"GET {route}")
    return trace_id_hex(server), span_id_hex(server)


def test_a_text_line_logged_in_a_request_carries_the_server_spans_ids(
    build_app, capture, settings, span_exporter
):
    captured = capture(PACKAGE)

    with TestClient(build_app(settings)) as client:
        client.get("/logs-a-line")

    trace_id, span_id = server_span_ids(span_exporter, "/logs-a-line")
    (line,) = captured.lines("handling the request")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO "
        + re.escape(
            f"{REQUEST_LOGGER} [service={PACKAGE} trace_id={trace_id} "
            f"span_id={span_id}] handling the request"
        ),
        line,
    )


def test_a_json_line_logged_in_a_request_parses_and_carries_the_ids(
    build_app, capture, span_exporter, monkeypatch
):
    captured = capture(PACKAGE)

    with TestClient(build_app(json_settings(monkeypatch))) as client:
        client.get("/logs-a-line", headers={"traceparent": TRACEPARENT})

    trace_id, span_id = server_span_ids(span_exporter, "/logs-a-line")
    (line,) = [json.loads(line) for line in captured.lines("handling the request")]
    assert line["message"] == "handling the request"
    assert line["level"] == "INFO"
    assert line["logger"] == REQUEST_LOGGER
    assert line["service_name"] == PACKAGE
    assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)
    assert trace_id == PARENT_TRACE_ID


def test_a_json_line_has_the_documented_keys_and_keeps_exception_and_stack(
    capture, tracer_provider, monkeypatch
):
    captured = capture(PACKAGE)
    configure_logging(json_settings(monkeypatch))

    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        try:
            raise ValueError("the detail")
        except ValueError:
            logging.getLogger(REQUEST_LOGGER).error(
                "it failed", exc_info=True, stack_info=True
            )

    (line,) = [json.loads(line) for line in captured.lines()]
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "service_name",
        "trace_id",
        "span_id",
        "exception",
        "stack",
    }
    ids = span.get_span_context()
    assert (line["trace_id"], line["span_id"]) == (
        f"{ids.trace_id:032x}",
        f"{ids.span_id:016x}",
    )
    assert (line["level"], line["logger"], line["message"]) == (
        "ERROR",
        REQUEST_LOGGER,
        "it failed",
    )
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: the detail")
    assert line["stack"].startswith("Stack (most recent call last):")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_line_logged_outside_a_request_has_no_ids(capture, monkeypatch, log_format):
    captured = capture(PACKAGE)
    monkeypatch.setenv("SERVICE_LOG_FORMAT", log_format)
    configure_logging(Settings())

    logging.getLogger(REQUEST_LOGGER).info("no request here")

    (line,) = captured.lines()
    assert "trace_id" not in line
    assert "span_id" not in line
    if log_format == "json":
        assert json.loads(line)["service_name"] == PACKAGE
    else:
        assert f" [service={PACKAGE}] no request here" in line


def test_the_exception_line_logged_after_a_failed_request_carries_its_ids(
    build_app, capture, settings, span_exporter
):
    captured = capture("uvicorn.error")
    app = build_app(settings)
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
def uvicorn_handlers() -> Iterator[dict[str, logging.Handler]]:
    """Handlers like the ones uvicorn's LOGGING_CONFIG puts on its loggers."""
    handlers = {
        "uvicorn": logging.StreamHandler(io.StringIO()),
        "uvicorn.access": logging.StreamHandler(io.StringIO()),
    }
    handlers["uvicorn"].setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    handlers["uvicorn.access"].setFormatter(
        AccessFormatter('%(client_addr)s - "%(request_line)s"')
    )
    levels = {}
    for name, handler in handlers.items():
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    yield handlers
    for name, handler in handlers.items():
        logger = logging.getLogger(name)
        logger.removeHandler(handler)
        logger.setLevel(levels[name])
    logging.getLogger("uvicorn.access").disabled = False


def test_configuring_logging_twice_leaves_one_correlation_filter_per_handler(
    uvicorn_handlers, capture, settings
):
    service_handler = capture(PACKAGE).handler

    configure_logging(settings)
    configure_logging(settings)

    for handler in [service_handler, *uvicorn_handlers.values()]:
        filters = list(handler.filters)
        assert len(filters) == 1
        assert isinstance(filters[0], TraceContextFilter)


def test_log_format_is_text_unless_the_environment_says_json(
    uvicorn_handlers, capture, monkeypatch
):
    handlers = [capture(PACKAGE).handler, *uvicorn_handlers.values()]

    configure_logging(Settings())
    by_default = [type(handler.formatter) for handler in handlers]
    monkeypatch.setenv("SERVICE_LOG_FORMAT", "JSON")
    configure_logging(Settings())
    with_json = [type(handler.formatter) for handler in handlers]

    assert by_default == [TextFormatter] * 3
    assert with_json == [JsonFormatter] * 3


def test_configure_logging_keeps_a_formatter_someone_chose(
    uvicorn_handlers, settings, tracer_provider
):
    access_handler = uvicorn_handlers["uvicorn.access"]
    chosen = logging.Formatter("%(trace_id)s %(span_id)s %(message)s")
    access_handler.setFormatter(chosen)

    configure_logging(settings)
    with tracer_provider.get_tracer("test").start_as_current_span("work") as span:
        logging.getLogger("uvicorn.access").info("served")

    assert access_handler.formatter is chosen
    line = access_handler.stream.getvalue().strip()
    ids = span.get_span_context()
    assert line == f"{ids.trace_id:032x} {ids.span_id:016x} served"


def test_access_log_off_stops_uvicorns_access_lines_before_they_are_made(
    uvicorn_handlers, monkeypatch
):
    access_logger = logging.getLogger("uvicorn.access")

    monkeypatch.setenv("SERVICE_ACCESS_LOG", "false")
    configure_logging(Settings())
    access_logger.info("served while off")
    off = access_logger.isEnabledFor(logging.INFO)
    monkeypatch.delenv("SERVICE_ACCESS_LOG")
    configure_logging(Settings())
    access_logger.info("served while on")

    assert not off
    lines = uvicorn_handlers["uvicorn.access"].stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("served while on")


def test_an_unknown_log_format_stops_the_service_naming_the_variable(
    monkeypatch, capsys
):
    monkeypatch.setenv("SERVICE_LOG_FORMAT", "yaml")

    with pytest.raises(SystemExit) as stopped:
        load_settings()

    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(
        f"{PACKAGE}: configuration error: SERVICE_LOG_FORMAT='yaml': "
    )


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
    outputs = {}
    try:
        for name, (command, log_format, extra_env) in LAUNCHES.items():
            port = free_port()
            port_option = ["--port", str(port)] if "--factory" in command else []
            running[name] = (
                port,
                start_service(command + port_option, port, log_format, extra_env),
            )
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

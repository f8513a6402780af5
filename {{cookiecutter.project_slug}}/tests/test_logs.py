"""Log lines carry the service name and the ids of the span they were logged in."""

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.trace import StatusCode
from uvicorn.logging import AccessFormatter, DefaultFormatter

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.logs import (
    JsonFormatter,
    TextFormatter,
    TraceContextFilter,
    configure_logging,
    scrub_record,
)
from {{ cookiecutter.project_slug }}.settings import Settings

from loopback_collector import closed_port_url
from span_queries import only_span, span_id_hex, trace_id_hex

PACKAGE = service.__name__
PROJECT_DIR = Path(__file__).resolve().parent.parent
# A module logger inside the service's package, as the service's code would use.
REQUEST_LOGGER = f"{PACKAGE}.request"
# A W3C traceparent whose trace id the service must adopt and print.
PARENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{PARENT_TRACE_ID}-{PARENT_SPAN_ID}-01"
SECRET = "s3cr3t-value"


@pytest.fixture
def attach() -> Iterator[Callable[..., logging.StreamHandler]]:
    """Attach a handler writing to a string to a logger configure_logging looks
    after (the service's, uvicorn's); detached after the test."""
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def attach(name: str, formatter: logging.Formatter | None = None):
        handler = logging.StreamHandler(io.StringIO())
        handler.setFormatter(formatter)
        logger = logging.getLogger(name)
        attached.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        return handler

    yield attach
    for logger, handler, level in attached:
        logger.removeHandler(handler)
        logger.setLevel(level)


def lines(handler: logging.StreamHandler, text: str = "") -> list[str]:
    return [line for line in handler.stream.getvalue().splitlines() if text in line]


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


def test_a_text_line_carries_the_server_spans_ids_in_a_request_and_none_outside(
    build_app, attach, settings, span_exporter
):
    handler = attach(PACKAGE)

    with TestClient(build_app(settings)) as client:
        client.get("/logs-a-line")
    logging.getLogger(REQUEST_LOGGER).info("no request here")

    server = only_span(span_exporter.get_finished_spans(), "GET /logs-a-line")
    ids = f"trace_id={trace_id_hex(server)} span_id={span_id_hex(server)}"
    (inside,) = lines(handler, "handling the request")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO "
        + re.escape(f"{REQUEST_LOGGER} [service={PACKAGE} {ids}] handling the request"),
        inside,
    )
    (outside,) = lines(handler, "no request here")
    assert outside.endswith(f" {REQUEST_LOGGER} [service={PACKAGE}] no request here")


def test_with_the_sdk_disabled_no_span_is_made_and_lines_carry_no_ids(
    build_app, attach, monkeypatch, span_exporter
):
    """Even a caller's traceparent is not adopted: FastAPI's tracing is off."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    handler = attach(PACKAGE)

    with TestClient(build_app(Settings())) as client:
        client.get("/logs-a-line", headers={"traceparent": TRACEPARENT})

    assert span_exporter.get_finished_spans() == ()
    (line,) = lines(handler, "handling the request")
    assert line.endswith(f" {REQUEST_LOGGER} [service={PACKAGE}] handling the request")


def test_a_json_line_has_the_documented_keys_and_the_ids_only_inside_a_span(
    attach, tracer_provider, monkeypatch
):
    handler = attach(PACKAGE)
    monkeypatch.setenv("SERVICE_LOG_FORMAT", "json")
    configure_logging(Settings())

    with tracer_provider.get_tracer("test").start_as_current_span("work") as span:
        try:
            raise ValueError("the detail")
        except ValueError:
            logging.getLogger(REQUEST_LOGGER).error(
                "it failed", exc_info=True, stack_info=True
            )
    logging.getLogger(REQUEST_LOGGER).info("no span here")

    inside, outside = [json.loads(line) for line in lines(handler)]
    keys = {"time", "level", "logger", "message", "service_name", "trace_id", "span_id"}
    assert set(inside) == keys | {"exception", "stack"}
    assert set(outside) == keys - {"trace_id", "span_id"}
    ids = (trace_id_hex(span), span_id_hex(span))
    assert (inside["trace_id"], inside["span_id"]) == ids
    assert (inside["level"], inside["logger"], inside["message"]) == (
        "ERROR",
        REQUEST_LOGGER,
        "it failed",
    )
    assert inside["service_name"] == outside["service_name"] == PACKAGE
    assert inside["exception"].startswith("Traceback (most recent call last):")
    assert inside["exception"].endswith("ValueError: the detail")
    assert inside["stack"].startswith("Stack (most recent call last):")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", inside["time"])
    assert datetime.fromisoformat(inside["time"]).utcoffset() == timedelta(0)


def test_a_failed_request_has_an_error_server_span_whose_ids_the_exception_line_has(
    build_app, attach, settings, span_exporter
):
    handler = attach("uvicorn.error")
    with (
        TestClient(build_app(settings)) as client,
        pytest.raises(RuntimeError) as raised,
    ):
        client.get("/fails")

    # What uvicorn does once the app has raised, when no span is current any more.
    logging.getLogger("uvicorn.error").error(
        "Exception in ASGI application\n", exc_info=raised.value
    )

    server = only_span(span_exporter.get_finished_spans(), "GET /fails")
    assert server.status.status_code is StatusCode.ERROR
    ids = f"trace_id={trace_id_hex(server)} span_id={span_id_hex(server)}"
    line = f"uvicorn.error [service={PACKAGE} {ids}] Exception in ASGI application"
    assert line in lines(handler)[0]


def test_service_log_format_picks_the_formatter_with_one_filter_per_handler(
    attach, monkeypatch
):
    handlers = [
        attach(PACKAGE),
        attach("uvicorn", DefaultFormatter("%(levelprefix)s %(message)s")),
        attach(
            "uvicorn.access", AccessFormatter('%(client_addr)s - "%(request_line)s"')
        ),
    ]

    configure_logging(Settings())
    by_default = [type(handler.formatter) for handler in handlers]
    monkeypatch.setenv("SERVICE_LOG_FORMAT", "JSON")
    configure_logging(Settings())

    assert by_default == [TextFormatter] * 3
    assert [type(handler.formatter) for handler in handlers] == [JsonFormatter] * 3
    # Configured twice, each handler has the one correlation filter and the
    # scrubbing.
    assert [[type(f) for f in handler.filters] for handler in handlers] == [
        [TraceContextFilter, type(scrub_record)]
    ] * 3
    assert all(handler.filters[1] is scrub_record for handler in handlers)


def test_configure_logging_keeps_a_chosen_formatter(attach, settings, tracer_provider):
    chosen = logging.Formatter("%(trace_id)s %(span_id)s %(message)s")
    handler = attach("uvicorn.access", chosen)

    configure_logging(settings)
    with tracer_provider.get_tracer("test").start_as_current_span("work") as span:
        logging.getLogger("uvicorn.access").info("served")

    assert handler.formatter is chosen
    assert lines(handler) == [f"{trace_id_hex(span)} {span_id_hex(span)} served"]


def test_formatters_work_on_records_no_filter_has_seen():
    """A --log-config may name the formatters without the filter."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "café", None, None)
    try:
        raise ValueError("no filter saw this")
    except ValueError:
        failed = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    assert (
        "ValueError: no filter saw this"
        in json.loads(JsonFormatter().format(failed))["exception"]
    )

    assert TextFormatter().format(record).endswith(" INFO x [service=] café")
    line = json.loads(JsonFormatter().format(record))
    assert (line["service_name"], "trace_id" in line) == ("", False)
    assert '"café"' in JsonFormatter().format(record)  # UTF-8, not \u00e9


@pytest.mark.parametrize(
    ("args", "logged"),
    [
        (
            ("c:1", "GET", "/p?token=x&b=", "1.1", 200),
            '"GET /p?token=REDACTED&b=REDACTED',
        ),
        (("c:1", "GET", "/p", "1.1", 200), '"GET /p HTTP/1.1" 200'),
    ],
)
def test_access_line_query_values_are_redacted_and_its_arguments_kept(args, logged):
    """uvicorn's AccessFormatter, in a --log-config, unpacks the five arguments."""
    access_format = '%s - "%s %s HTTP/%s" %d'
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, access_format, args, None
    )

    assert scrub_record(record) is True
    assert logged in record.getMessage()
    assert len(record.args) == 5
    assert AccessFormatter('%(client_addr)s "%(request_line)s"').format(record)


def test_an_exception_logged_outside_a_request_carries_no_ids(attach, settings):
    handler = attach(PACKAGE)
    configure_logging(settings)

    try:
        raise ValueError("not in a request")
    except ValueError:
        logging.getLogger(REQUEST_LOGGER).exception("failed outside")

    (line,) = lines(handler, "failed outside")
    assert line.endswith(f" {REQUEST_LOGGER} [service={PACKAGE}] failed outside")


def test_the_root_logger_gets_a_handler_only_if_nothing_would_print_a_line(
    monkeypatch, settings
):
    """On the root, so a library's warning is formatted and scrubbed like the
    service's own lines, not printed raw by logging's last resort."""
    service_logger = logging.getLogger(PACKAGE)
    monkeypatch.setattr(service_logger, "handlers", [])
    monkeypatch.setattr(service_logger, "level", logging.NOTSET)
    chosen = logging.NullHandler()
    monkeypatch.setattr(logging.root, "handlers", [chosen])
    configure_logging(settings)
    assert logging.root.handlers == [chosen]

    monkeypatch.setattr(logging.root, "handlers", [])
    configure_logging(settings)
    configure_logging(settings)
    assert [type(handler) for handler in logging.root.handlers] == [
        logging.StreamHandler
    ]
    assert service_logger.handlers == []
    assert service_logger.getEffectiveLevel() == logging.INFO


def test_access_log_off_disables_the_access_logger_before_a_line_is_made(monkeypatch):
    access_logger = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access_logger, "disabled", False)  # restored afterwards

    monkeypatch.setenv("SERVICE_ACCESS_LOG", "false")
    configure_logging(Settings())
    off = access_logger.isEnabledFor(logging.CRITICAL)
    monkeypatch.delenv("SERVICE_ACCESS_LOG")
    configure_logging(Settings())

    assert (off, access_logger.isEnabledFor(logging.CRITICAL)) == (False, True)


# Real uvicorn, in both ways the README starts the service.
UVICORN = [sys.executable, "-m", "uvicorn", "--factory", f"{PACKAGE}.app:create_app"]
LAUNCHES = {
    "python -m": (
        [sys.executable, "-m", PACKAGE],
        {"SERVICE_LOG_FORMAT": "json", "SERVICE_HOST": "localhost"},
    ),
    "uvicorn --factory": (UVICORN, {}),
    "access log off": (UVICORN, {"SERVICE_ACCESS_LOG": "false"}),
}


# A port picked free can be taken before the service binds it (another test, or
# another suite on the machine). Then the service exits with "address already
# in use" while the other server answers our requests, so a request is only
# sent once the service has said it is listening; a lost port is picked again.
LISTENING = "Uvicorn running on"
PORT_TAKEN = "address already in use"
BIND_ATTEMPTS = 3
START_SECONDS = 20


@dataclass
class Launch:
    """One service process, the port it was given and the file its output goes to."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def outputs_of(launches: Iterable[Launch]) -> str:
    """Every launch's output, for an assertion message."""
    return "\n".join(
        f"--- output of {launch.name} (pid {launch.process.pid}, port {launch.port})"
        f" ---\n{launch.output()}"
        for launch in launches
    )


def start(name: str, log_dir: Path) -> Launch:
    command, variables = LAUNCHES[name]
    port = int(closed_port_url().rsplit(":", 1)[1])
    if "--factory" in command:
        command = [*command, "--port", str(port)]
    environment = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR / "src"),
        "PYTHONUNBUFFERED": "1",
        # Spans are still made, with real ids; they just go nowhere.
        "OTEL_TRACES_EXPORTER": "none",
        "SERVICE_PORT": str(port),
        **variables,
    }
    log = log_dir / f"{name.replace(' ', '_')}-{port}.log"
    # A file, not a pipe: it can be read while the process runs, and never fills.
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Launch(name, port, process, log)


def listening(launch: Launch) -> bool:
    """True once the service says it listens on its port; False when it could
    not bind it."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if LISTENING in launch.output():
            return True
        if launch.process.poll() is not None:
            assert PORT_TAKEN in launch.output().lower(), outputs_of([launch])
            return False
        time.sleep(0.05)
    raise AssertionError(f"silent for {START_SECONDS} s\n{outputs_of([launch])}")


def get_root(launch: Launch) -> None:
    base = f"http://127.0.0.1:{launch.port}"
    request = urllib.request.Request(
        f"{base}/?token={SECRET}&user=alice", headers={"traceparent": TRACEPARENT}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200, outputs_of([launch])


def stop(launch: Launch) -> None:
    launch.process.send_signal(signal.SIGTERM)
    try:
        launch.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        launch.process.kill()
        launch.process.wait(timeout=5)


def test_uvicorn_access_lines_carry_the_request_ids_however_it_is_started(tmp_path):
    """The launches run side by side, so the test pays one start-up, not three."""
    running: dict[str, Launch] = {}
    try:
        for name in LAUNCHES:
            running[name] = start(name, tmp_path)
        for name in LAUNCHES:
            for _ in range(BIND_ATTEMPTS - 1):
                if listening(running[name]):
                    break
                running[name] = start(name, tmp_path)
            assert listening(running[name]), outputs_of([running[name]])
            get_root(running[name])
    finally:
        for launch in running.values():
            stop(launch)
    outputs = {name: launch.output() for name, launch in running.items()}
    said = outputs_of(running.values())

    assert all(line.startswith("{") for line in outputs["python -m"].splitlines()), said
    json_lines = [json.loads(line) for line in outputs["python -m"].splitlines()]
    access_lines = [
        line
        for line in json_lines
        if line["logger"] == "uvicorn.access" and '"GET /?' in line["message"]
    ]
    assert len(access_lines) == 1, said
    (access,) = access_lines
    redacted = '"GET /?token=REDACTED&user=REDACTED HTTP/1.1" 200'
    assert redacted in access["message"], said
    assert access["trace_id"] == PARENT_TRACE_ID, said
    assert re.fullmatch("[0-9a-f]{16}", access["span_id"]), said
    assert access["span_id"] != PARENT_SPAN_ID, said
    assert access["service_name"] == PACKAGE, said
    started = [
        line for line in json_lines if "Started server process" in line["message"]
    ]
    assert started and "trace_id" not in started[0], said

    text_access = [
        line for line in outputs["uvicorn --factory"].splitlines() if '"GET /?' in line
    ]
    assert len(text_access) == 1, said
    assert redacted in text_access[0], said
    assert re.search(
        rf"uvicorn\.access \[service={PACKAGE} trace_id={PARENT_TRACE_ID} "
        r"span_id=[0-9a-f]{16}\]",
        text_access[0],
    ), said

    quiet = outputs["access log off"]
    assert "Started server process" in quiet, said
    assert '"GET /' not in quiet, said
    assert not any(SECRET in output for output in outputs.values()), said
    # `python -m` binds SERVICE_HOST, and tells uvicorn it is given a factory.
    port = running["python -m"].port
    assert f"Uvicorn running on http://localhost:{port}" in outputs["python -m"], said
    assert "factory detected" not in outputs["python -m"], said


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_credential_or_query_value_reaches_a_line_through_any_formatter(
    attach, monkeypatch, log_format
):
    """The service's formatters and one someone chose; message and traceback."""
    monkeypatch.setenv("SERVICE_LOG_FORMAT", log_format)
    handlers = [attach(PACKAGE), attach("uvicorn.error", logging.Formatter())]
    configure_logging(Settings())
    url = f"http://u:{SECRET}@h:1/p?token={SECRET}"

    request_logger = logging.getLogger(REQUEST_LOGGER)
    request_logger.warning("calling %s", url)
    request_logger.warning(f"called {url}")
    request_logger.warning("failed: %s", ConnectionError(url))
    try:
        raise ValueError(f"cannot reach {url}")
    except ValueError:
        request_logger.exception("failed in a request")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

    for handler in handlers:
        output = handler.stream.getvalue()
        assert SECRET not in output
    redacted = "http://REDACTED@h:1/p?token=REDACTED"
    said = lines(handlers[0])
    for expected in (
        f"calling {redacted}",
        f"called {redacted}",
        f"failed: {redacted}",
    ):
        assert any(expected in line for line in said), expected
    assert f"ValueError: cannot reach {redacted}" in handlers[0].stream.getvalue()
    assert "ValueError: cannot reach http://REDACTED@h:1/p?token=REDACTED" in (
        handlers[1].stream.getvalue()
    )


def test_a_traceback_another_handler_formatted_first_is_scrubbed_too(attach, settings):
    """A handler below the root formats the record first and caches the text."""
    first = attach(REQUEST_LOGGER, logging.Formatter())
    handler = attach(PACKAGE)
    configure_logging(settings)

    try:
        raise ValueError(f"cannot reach http://u:{SECRET}@h/?t={SECRET}")
    except ValueError:
        logging.getLogger(REQUEST_LOGGER).exception("failed")

    assert SECRET in first.stream.getvalue()  # a handler the service never saw
    assert SECRET not in handler.stream.getvalue()
    assert "http://REDACTED@h/?t=REDACTED" in handler.stream.getvalue()


def test_scrubbing_a_malformed_logging_call_leaves_it_to_logging():
    """A filter runs outside a handler's error handling: raising there would
    reach the caller, where logging itself prints "--- Logging error ---"."""
    bad = ("x", logging.WARNING, __file__, 1, "%d items", ("many",), None)

    assert scrub_record(logging.LogRecord(*bad)) is True

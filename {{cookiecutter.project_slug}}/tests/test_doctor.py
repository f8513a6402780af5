"""`python -m <package> doctor`: one line per check, non-zero exit on any failure."""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from {{ cookiecutter.project_slug }} import doctor
from {{ cookiecutter.project_slug }}.__main__ import main
from {{ cookiecutter.project_slug }}.settings import DEFAULT_OTLP_PROTOCOL, Settings

from loopback_collector import LoopbackCollector

HAS_CLIENT = Settings.from_environ({}).downstream_service is not None


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def collector() -> Iterator[LoopbackCollector]:
    with LoopbackCollector(DEFAULT_OTLP_PROTOCOL) as running:
        yield running


@pytest.fixture
def healthy_downstream() -> Iterator[str]:
    """A downstream on loopback whose /healthz answers 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def check_lines(output: str) -> dict[str, str]:
    """{check name: its whole line}, for the lines that start with a status."""
    lines = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        if status in (doctor.PASS, doctor.FAIL, doctor.SKIP):
            name = rest[:22].strip()
            lines[name] = line
    return lines


def test_doctor_fails_in_bounded_time_naming_the_endpoint_when_the_collector_is_down(
    monkeypatch, capsys, healthy_downstream
):
    endpoint = closed_port_url()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", healthy_downstream)
    monkeypatch.setattr(doctor, "PROBE_TIMEOUT", 1.0)

    started = time.monotonic()
    status = main(["doctor"])
    elapsed = time.monotonic() - started

    lines = check_lines(capsys.readouterr().out)
    assert status == 1
    assert lines["collector"].startswith("FAIL")
    assert endpoint in lines["collector"]
    assert "did not accept the probe span" in lines["collector"]
    assert elapsed < 5
    assert [name for name, line in lines.items() if line.startswith("FAIL")] == [
        "collector"
    ]


def test_doctor_passes_and_the_collector_receives_the_probe_span(
    collector, monkeypatch, capsys, healthy_downstream
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", healthy_downstream)

    status = main(["doctor"])

    output = capsys.readouterr().out
    lines = check_lines(output)
    assert status == 0, output
    assert lines["tracer provider"].startswith("PASS")
    assert lines["collector"].startswith("PASS")
    assert lines["server spans"].startswith("PASS")
    assert "'GET /'" in lines["server spans"]
    expected_with_client = "PASS" if HAS_CLIENT else "SKIP"
    assert lines["client spans"].startswith(expected_with_client)
    assert lines["downstream"].startswith(expected_with_client)
    resource, span = collector.wait_for_spans(1)[0]
    assert span.name == doctor.PROBE_SPAN_NAME
    assert resource["service.name"] == Settings.from_environ().service_slug


def test_doctor_reports_disabled_tracing_as_a_failure(monkeypatch, capsys):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", closed_port_url())

    status = main(["doctor"])

    lines = check_lines(capsys.readouterr().out)
    assert status == 1
    assert lines["tracer provider"].startswith("FAIL")
    assert "OTEL_SDK_DISABLED=true" in lines["tracer provider"]


def test_doctor_reports_spans_sent_nowhere_as_a_failure(monkeypatch, capsys):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", closed_port_url())

    status = main(["doctor"])

    lines = check_lines(capsys.readouterr().out)
    assert status == 1
    assert lines["processor and sampler"].startswith("FAIL")
    assert lines["collector"].startswith("SKIP")


@pytest.mark.skipif(not HAS_CLIENT, reason="generated without the downstream client")
def test_doctor_fails_when_the_downstream_is_unreachable(
    collector, monkeypatch, capsys
):
    downstream = closed_port_url()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", downstream)

    status = main(["doctor"])

    lines = check_lines(capsys.readouterr().out)
    assert status == 1
    assert lines["downstream"].startswith("FAIL")
    assert f"{downstream}/healthz unreachable" in lines["downstream"]


def test_a_bad_setting_exits_2_before_any_check(monkeypatch, capsys):
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", "eager")

    status = main(["doctor"])

    captured = capsys.readouterr()
    assert status == 2
    assert "SERVICE_SPAN_PROCESSOR" in captured.err
    assert check_lines(captured.out) == {}


@pytest.mark.parametrize(
    ("protocol", "endpoint", "hint"),
    [
        ("grpc", "http://collector:4318", "gRPC's is 4317"),
        ("http/protobuf", "http://collector:4317", "HTTP's is 4318"),
        ("grpc", "collector:4317", "means TLS"),
    ],
)
def test_a_failed_probe_names_the_usual_endpoint_mistake(protocol, endpoint, hint):
    settings = Settings.from_environ(
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        }
    )

    assert hint in doctor.endpoint_hint(settings)


def test_the_exporters_log_filters_are_put_back_after_the_probe():
    exporter_logger = logging.getLogger(f"{doctor.EXPORTER_LOGGERS}.probe")
    before = list(exporter_logger.filters)

    with doctor.exporter_complaints() as complaints:
        exporter_logger.warning("collector said no\nand more")

    assert complaints == ["collector said no"]
    assert exporter_logger.filters == before

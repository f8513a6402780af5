"""`python -m <package> doctor`: one line per check, non-zero exit on any failure."""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }} import doctor
from {{ cookiecutter.project_slug }}.__main__ import main
from {{ cookiecutter.project_slug }}.export_health import endpoint_hint, exporter_loggers
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE, Settings

from loopback_collector import LoopbackCollector

EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}
HAS_CLIENT = DOWNSTREAM_SERVICE is not None


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def downstream(monkeypatch) -> Iterator[str]:
    """A downstream on loopback whose /healthz answers 200, as the service uses it."""

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
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", url)
    yield url
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def collector(monkeypatch) -> Iterator[LoopbackCollector]:
    with LoopbackCollector(Settings().traces_protocol) as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.endpoint)
        yield running


def check_lines(output: str) -> dict[str, str]:
    """{check name: its whole line}, for the lines that start with a status."""
    lines = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        if status in (doctor.PASS, doctor.FAIL, doctor.SKIP):
            lines[rest[:15].strip()] = line
    return lines


def run_doctor(capsys) -> tuple[int, str, dict[str, str]]:
    status = main(["doctor"])
    output = capsys.readouterr().out
    return status, output, check_lines(output)


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_doctor_passes_and_the_collector_receives_the_probe_span(
    monkeypatch, capsys, downstream, protocol
):
    pytest.importorskip(EXPORTER_MODULES[protocol])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    with LoopbackCollector(protocol) as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)

        status, output, lines = run_doctor(capsys)

        resource, span = collector.wait_for_spans(1)[0]
    assert status == 0, output
    assert output.startswith(f"{service.__name__} doctor: tracing: ")
    assert list(lines) == ["spans recorded", "collector", "downstream"]
    assert lines["spans recorded"].startswith("PASS")
    assert lines["collector"].startswith("PASS")
    assert collector.endpoint in lines["collector"]
    assert lines["downstream"].startswith("PASS" if HAS_CLIENT else "SKIP")
    assert output.endswith("doctor: every check passed\n")
    assert span.name == doctor.PROBE_SPAN_NAME == "doctor.probe"
    assert resource["service.name"] == service.__name__


def test_doctor_fails_in_bounded_time_naming_the_endpoint_when_the_collector_is_down(
    monkeypatch, capsys, caplog, downstream
):
    endpoint = closed_port_url()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    # The probe's 3 s, shortened: a refused connection is retried until then.
    monkeypatch.setattr(doctor, "PROBE_TIMEOUT", 1.0)
    before = {logger.name: list(logger.filters) for logger in exporter_loggers()}

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        status, output, lines = run_doctor(capsys)
    elapsed = time.monotonic() - started

    assert status == 1
    assert lines["collector"].startswith("FAIL")
    assert endpoint in lines["collector"]
    assert "did not accept the probe span within 1 s" in lines["collector"]
    assert elapsed < 3
    failed = [name for name, line in lines.items() if line.startswith("FAIL")]
    assert failed == ["collector"]
    assert output.endswith("doctor: 1 failed: collector\n")
    # The exporter's own complaints are the report's reason, not extra output,
    # and its loggers are left as they were.
    assert [r for r in caplog.records if r.name.startswith("opentelemetry.exp")] == []
    assert {logger.name: logger.filters for logger in exporter_loggers()} == {
        logger.name: before.get(logger.name, []) for logger in exporter_loggers()
    }


def test_doctor_gives_up_on_a_collector_that_never_answers_after_3_s(
    monkeypatch, capsys, downstream
):
    # Connections complete in the listen backlog; nothing ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)

        started = time.monotonic()
        status, _, lines = run_doctor(capsys)
        elapsed = time.monotonic() - started

    assert status == 1
    assert "did not accept the probe span within 3 s" in lines["collector"]
    assert 2.5 < elapsed < 5


@pytest.mark.parametrize(
    ("variable", "value", "reason", "collector_check"),
    [
        ("OTEL_SDK_DISABLED", "true", "OTEL_SDK_DISABLED=true", "SKIP"),
        ("OTEL_TRACES_EXPORTER", "none", "OTEL_TRACES_EXPORTER=none", "SKIP"),
        ("OTEL_TRACES_SAMPLER", "always_off", "AlwaysOffSampler", None),
    ],
)
def test_doctor_fails_when_no_span_would_be_recorded_or_sent(
    monkeypatch, capsys, collector, downstream, variable, value, reason, collector_check
):
    monkeypatch.setenv(variable, value)

    status, output, lines = run_doctor(capsys)

    assert status == 1
    assert lines["spans recorded"].startswith("FAIL")
    assert reason in lines["spans recorded"]
    if collector_check is not None:
        assert lines["collector"].startswith(collector_check)
    assert output.endswith("doctor: 1 failed: spans recorded\n")


@pytest.mark.skipif(not HAS_CLIENT, reason="generated without the downstream client")
def test_doctor_fails_when_the_downstream_is_unreachable(
    collector, monkeypatch, capsys
):
    downstream = closed_port_url()
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", downstream)

    status, output, lines = run_doctor(capsys)

    assert status == 1
    assert lines["collector"].startswith("PASS")
    assert lines["downstream"].startswith("FAIL")
    assert f"{downstream}/healthz unreachable" in lines["downstream"]
    assert output.endswith("doctor: 1 failed: downstream\n")


def test_a_bad_setting_exits_2_before_any_check(monkeypatch, capsys):
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", "eager")

    with pytest.raises(SystemExit) as stopped:
        main(["doctor"])

    captured = capsys.readouterr()
    assert stopped.value.code == 2
    assert "SERVICE_SPAN_PROCESSOR='eager'" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("protocol", "endpoint", "hint"),
    [
        ("grpc", "http://collector:4318", "; 4318 is OTLP/HTTP's port, gRPC's is 4317"),
        (
            "http/protobuf",
            "http://collector:4317",
            "; 4317 is OTLP/gRPC's port, HTTP's is 4318",
        ),
        (
            "grpc",
            "collector:4317",
            "; an endpoint without a scheme means TLS (http:// for plaintext)",
        ),
        ("grpc", "http://collector:4317", ""),
        ("http/protobuf", "http://collector:4318", ""),
    ],
)
def test_a_failed_probe_names_the_usual_endpoint_mistake(
    monkeypatch, protocol, endpoint, hint
):
    pytest.importorskip(EXPORTER_MODULES[protocol])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)

    settings = Settings()
    assert endpoint_hint(settings.traces_protocol, settings.traces_endpoint) == hint

"""Edges of a running service: secrets kept out of every log line, and a bad
setting that stops every worker instead of restarting them forever.

Real uvicorn processes on loopback ports, their whole output read back.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from baking import bake_with_client
from otlp_receiver import OtlpReceiver
from service_harness.environment import scrubbed_environment
from service_harness.ports import refused_endpoint
from service_harness.services import App, running_service, uvicorn_command

SLUG = "edge_caller"
SECRETS = ("s3cr3t-token", "alice@example.com")
QUERY = "?token=s3cr3t-token&email=alice@example.com"


@pytest.fixture(scope="module")
def project(cookies_session):
    return bake_with_client(cookies_session, SLUG)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_query_value_reaches_any_log_line(project, tmp_path, log_format):
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "SERVICE_LOG_FORMAT": log_format,
        "SERVICE_DOWNSTREAM_URL": refused_endpoint(),
    }
    with running_service(App.baked(project), tmp_path, env) as service:
        statuses = [
            get(f"{service.base_url}{path}{QUERY}")
            for path in ("/", f"/{SLUG}", "/missing")
        ]
    output = service.log()

    assert statuses == [200, 502, 404]
    lines = output.splitlines()
    access = [line for line in lines if "uvicorn.access" in line and "?token=" in line]
    assert len(access) == 3, output[-3000:]
    assert all("token=REDACTED&email=REDACTED" in line for line in access)
    if log_format == "json":
        assert all(json.loads(line)["message"] for line in access)
    # The console exporter prints the spans into the same output: they too.
    assert f"GET /{SLUG}" in output
    for secret in SECRETS:
        assert secret not in output


FACTORY = f"{SLUG}.app:create_app"
BAD_ENDPOINT = ("OTEL_EXPORTER_OTLP_ENDPOINT", "garbage")
BAD_ENDPOINT_LINE = (
    f"{SLUG}: configuration error: OTEL_EXPORTER_OTLP_ENDPOINT: "
    "must be an http:// or https:// URL with a host, no query or fragment"
)


def run_with_a_bad_setting(
    project, command: list[str], setting: tuple[str, str] = BAD_ENDPOINT
) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        command,
        env=scrubbed_environment(
            {"PYTHONPATH": str(project.source_dir), setting[0]: setting[1]}
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stderr, time.monotonic() - started


def test_a_bad_setting_stops_uvicorn_with_one_line_and_exit_status_3(project):
    """No traceback, no half-configured service: the variable and what it needs."""
    timeout = ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1")

    code, stderr, _ = run_with_a_bad_setting(
        project, uvicorn_command(FACTORY, port=0), timeout
    )

    assert code == 3
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        f"{SLUG}: configuration error: OTEL_EXPORTER_OTLP_TIMEOUT: "
        "Input should be greater than 0"
    ]
    assert "Traceback" not in stderr


def test_a_bad_setting_stops_every_uvicorn_worker_within_ten_seconds(project):
    code, stderr, took = run_with_a_bad_setting(
        project, uvicorn_command(FACTORY, port=0, workers=2)
    )

    errors = [line for line in stderr.splitlines() if "configuration error" in line]
    assert took < 10
    # One line from each worker; exit status 3 stops uvicorn's supervisor
    # instead of a worker restarted forever (35 restarts in 30 s with 2).
    assert 1 <= len(errors) <= 2, stderr[-3000:]
    assert errors[0] == BAD_ENDPOINT_LINE
    assert "failed to start, stopping the parent process" in stderr
    assert "Traceback" not in stderr
    # uvicorn 0.54's parent exits 0 after stopping (docs/design-decisions.md).
    assert code in (0, 3)


def test_a_bad_setting_stops_python_m_with_exit_status_3(project):
    code, stderr, took = run_with_a_bad_setting(project, [sys.executable, "-m", SLUG])

    assert code == 3
    assert stderr.strip().splitlines() == [BAD_ENDPOINT_LINE]
    assert took < 10


def test_grpc_without_a_scheme_to_a_plaintext_collector_says_tls_once_per_signal(
    project, tmp_path
):
    with OtlpReceiver(grpc_port=0, http_port=None) as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint.removeprefix(
                "http://"
            ),
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "SERVICE_DOWNSTREAM_URL": refused_endpoint(),
        }
        with running_service(App.baked(project), tmp_path, env) as service:
            for _ in range(8):
                get(f"{service.base_url}/")
                time.sleep(0.5)
        output = service.log()

    outage = [line for line in output.splitlines() if "cannot export" in line]
    signals = [line.split("] ")[1].split(":")[0] for line in outage]
    # One line for spans; metrics (every 60 s) say it too if their shutdown
    # flush meets the TLS handshake within the bound, which gRPC may not.
    assert signals in (["tracing"], ["tracing", "metrics"]), output[-3000:]
    for line in outage:
        assert "an endpoint without a scheme means TLS (http:// for plaintext)" in line
    assert "Handshake failed" not in output

"""No credential and nothing a caller sends in the output of a running service.

Real uvicorn processes on loopback, their whole output read back: the start-up
line, the outage lines and the exporter's own words with a user and password in
the collector's URL; a hostile `baggage` header; a malformed
`OTEL_EXPORTER_OTLP_HEADERS`; a caller forging its address through
`X-Forwarded-For`. The units behind each are the generated project's own tests.
"""

import base64
import subprocess
import sys
import time
import urllib.request

import pytest

from baking import bake_checked
from otlp_receiver import OtlpReceiver
from service_harness.environment import scrubbed_environment
from service_harness.health import wait_until
from service_harness.ports import refused_endpoint
from service_harness.services import App, running_service, uvicorn_command

SECRET = "S3CRET"
PROTOCOLS = ["grpc", "http/protobuf"]


@pytest.fixture(scope="module", params=PROTOCOLS, ids=["grpc", "http"])
def project(request, cookies_session):
    slug = "secret_probe_" + request.param.split("/")[0]
    answers = {"project_slug": slug, "otlp_protocol": request.param}
    return request.param, bake_checked(cookies_session, answers)


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://alice:{SECRET}@")


def get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def run_to_exit(baked, env: dict[str, str], command=None) -> tuple[int, str]:
    """Run until it exits: a service that refuses to start."""
    result = subprocess.run(
        command or uvicorn_command(baked.app_factory, port=0),
        env=scrubbed_environment({"PYTHONPATH": str(baked.source_dir)}, env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_a_user_and_password_in_the_collector_url_reach_no_line(
    project, tmp_path, variable, log_format
):
    """Over HTTP the service starts, names the endpoint redacted at start and in
    its outage line; over gRPC, which cannot send them, it refuses to start."""
    protocol, baked = project
    endpoint = with_credentials(refused_endpoint())
    if protocol == "http/protobuf" and variable.endswith("TRACES_ENDPOINT"):
        endpoint += "/v1/traces"
    env = {
        variable: endpoint,
        "SERVICE_LOG_FORMAT": log_format,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
    }

    if protocol == "grpc":
        code, output = run_to_exit(baked, env)
        assert code == 3, output[-3000:]
        assert f"configuration error: {variable}: must carry no user:password@" in (
            output
        )
        assert SECRET not in output
        return

    with running_service(App.baked(baked), tmp_path, env) as service:
        get(f"{service.base_url}/")
        wait_until(
            service.process, lambda: "cannot export spans" in service.log(), "", 15
        )
    output = service.log()

    redacted = endpoint.replace(f"alice:{SECRET}@", "REDACTED@")
    assert f"endpoint={redacted}" in output
    assert f"cannot export spans to {redacted}" in output
    assert SECRET not in output
    assert "alice" not in output


@pytest.mark.parametrize("project", ["http/protobuf"], indirect=True)
def test_over_http_the_user_and_password_go_to_the_collector_as_basic_auth(
    project, tmp_path
):
    _, baked = project
    with OtlpReceiver(grpc_port=None, http_port=0) as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": with_credentials(receiver.http_endpoint),
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with running_service(App.baked(baked), tmp_path, env) as service:
            assert get(f"{service.base_url}/") == 200
            receiver.wait_for_spans(1, timeout=10)
        authorization = {r.headers.get("authorization") for r in receiver.requests()}

    expected = base64.b64encode(f"alice:{SECRET}".encode()).decode()
    assert authorization == {f"Basic {expected}"}
    assert SECRET not in service.log()


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]
)
def test_malformed_exporter_headers_stop_the_service_without_echoing_them(
    project, variable
):
    _, baked = project

    code, output = run_to_exit(baked, {variable: f"Authorization: Bearer {SECRET}"})

    assert code == 3, output[-3000:]
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert errors == [
        f"{baked.slug}: configuration error: {variable}: must be comma-separated "
        "name=value pairs, values URL-encoded"
    ]
    assert SECRET not in output


def test_an_unknown_propagator_stops_python_m_with_one_line_and_status_3(project):
    _, baked = project
    command = [sys.executable, "-m", baked.slug]

    unknown = {"OTEL_PROPAGATORS": "tracecontext,b3multi"}

    code, output = run_to_exit(baked, unknown, command)

    assert code == 3, output[-3000:]
    assert output.strip().splitlines() == [
        f"{baked.slug}: configuration error: OTEL_PROPAGATORS: "
        "each name must be none or an installed propagator's"
    ]


def test_under_uvicorn_factory_the_api_refuses_an_unknown_propagator_on_import(
    project,
):
    """Importing FastAPI imports the OpenTelemetry API, which reads the variable
    and raises before any code of the service runs; pinned, so that an upstream
    change shows (docs/design-decisions.md)."""
    _, baked = project

    code, output = run_to_exit(baked, {"OTEL_PROPAGATORS": "tracecontext,b3multi"})

    assert code == 1, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        "ValueError: Propagator b3multi not found. "
        "It is either misspelled or not installed."
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_hostile_baggage_header_reaches_no_line(project, tmp_path, log_format):
    """60 KB of baggage and a member forging a JSON line: the SDK's parser would
    write either to stderr as sent."""
    _, baked = project
    forged = '"}{"level": "ERROR"'
    env = {"OTEL_TRACES_EXPORTER": "none", "SERVICE_LOG_FORMAT": log_format}

    with running_service(App.baked(baked), tmp_path, env) as service:
        statuses = [
            get(f"{service.base_url}/", {"baggage": f"k={'v' * 60_000}"}),
            get(f"{service.base_url}/", {"baggage": f"a=1,{forged}"}),
        ]
        time.sleep(0.2)
    output = service.log()

    assert statuses == [200, 200]
    assert output.count("GET / HTTP/1.1") == 2, output[-2000:]
    assert "v" * 100 not in output
    # Not as sent, nor as JSON escapes it.
    assert "}{" not in output
    assert "ERROR" not in output
    assert max(len(line) for line in output.splitlines()) < 1000


@pytest.mark.parametrize(
    ("forwarded_allow_ips", "client"),
    [(None, "6.6.6.6"), ("", "127.0.0.1")],
    ids=["uvicorn-default-trusts-loopback", "empty-trusts-no-one"],
)
def test_forwarded_allow_ips_decides_whether_a_loopback_peer_can_forge_its_address(
    project, tmp_path, forwarded_allow_ips, client
):
    """The generated README's deployment notes say which value fits where."""
    _, baked = project
    env = {"OTEL_TRACES_EXPORTER": "none"}
    if forwarded_allow_ips is not None:
        env["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips

    with running_service(App.baked(baked), tmp_path, env) as service:
        get(f"{service.base_url}/", {"X-Forwarded-For": "6.6.6.6"})
        time.sleep(0.2)
    (access,) = [line for line in service.log().splitlines() if "GET / " in line]

    assert f" {client}:" in access

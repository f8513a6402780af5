"""What a new user does: bake, `pip install -e .[dev]` in a fresh venv, pytest, uvicorn.

This is the one test that installs from the package index instead of using the
template's environment, so it proves the generated pyproject.toml alone is
enough. It then serves the project with the uvicorn command its README gives,
and checks that a request's spans reach a real OTLP receiver on loopback.
"""

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import venv

import pytest

from baking import environment_without_tracing_variables, run
from otlp_receiver import OtlpReceiver

INSTALL_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"uvicorn exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def installed_project(cookies_session, tmp_path_factory):
    """The default answers (`cookiecutter --no-input`), installed as a user would."""
    result = cookies_session.bake()
    assert result.exit_code == 0, result.exception
    project_dir = result.project_path
    environment = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    install = run(
        [python, "-m", "pip", "install", "--quiet", "-e", ".[dev]"],
        project_dir,
        timeout=INSTALL_TIMEOUT,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return project_dir, python


def test_generated_tests_pass_in_a_fresh_environment(installed_project):
    project_dir, python = installed_project

    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project_dir)

    assert result.returncode == 0, result.stdout[-3000:]


def test_fresh_environment_holds_only_what_the_answers_call_for(installed_project):
    project_dir, python = installed_project
    probe = (
        "import importlib.metadata as m;"
        "print(*sorted(d.metadata['Name'].lower() for d in m.distributions()))"
    )

    installed = set(run([python, "-c", probe], project_dir).stdout.split())

    assert "opentelemetry-exporter-otlp-proto-grpc" in installed
    assert "opentelemetry-exporter-otlp-proto-http" not in installed
    assert "opentelemetry-instrumentation-requests" not in installed


def test_uvicorn_serves_it_and_its_spans_reach_the_collector(installed_project):
    project_dir, python = installed_project
    port = free_port()
    with OtlpReceiver(grpc_port=0, http_port=None) as receiver:
        environment = {
            **environment_without_tracing_variables(),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint,
        }
        command = [
            python,
            "-m",
            "uvicorn",
            "--factory",
            "my_service.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        log = project_dir / "uvicorn.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                command, cwd=project_dir, env=environment, stdout=output, stderr=output
            )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process, 30)
            url = f"http://127.0.0.1:{port}/my_service"
            with urllib.request.urlopen(url, timeout=5) as answer:
                assert answer.status == 200
                assert json.loads(answer.read()) == {"message": "Hello from my_service"}
        finally:
            stop(process)
        spans = receiver.wait_for_spans(2, timeout=10)

    # uvicorn re-raises SIGTERM once its graceful shutdown is done.
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()[-2000:]
    assert "Application shutdown complete" in log.read_text()
    names = {span.name: span for span in spans}
    server, operation = names["GET /my_service"], names["my_service_operation"]
    assert operation.parent_span_id == server.span_id
    assert {span.service_name for span in spans} == {"my_service"}
    assert "tracing: service.name=my_service" in log.read_text()

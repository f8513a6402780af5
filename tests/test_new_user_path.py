"""What a new user does: bake, `pip install -e .[dev]` in a fresh venv, pytest, uvicorn.

This is the one test that installs from the package index instead of using the
template's environment, so it proves the generated pyproject.toml alone is
enough. It then serves the project with the uvicorn command its README gives,
and checks that a request's spans reach a real OTLP receiver on loopback.
"""

import json
import signal
import urllib.error
import urllib.request
import venv

import pytest

from baking import run
from otlp_receiver import OtlpReceiver
from service_harness.services import App, running_service

INSTALL_TIMEOUT = 600


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
    # Only the grpc exporter is installed: the http/protobuf tests skip, and say why.
    assert "SKIPPED" in result.stdout
    assert "by design: this project depends only on its own protocol's exporter" in (
        result.stdout
    )


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
    app = App("my_service", "my_service.app:create_app", cwd=project_dir, python=python)
    with OtlpReceiver(grpc_port=0, http_port=None) as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint}
        with running_service(app, project_dir, env) as service:
            url = f"{service.base_url}/my_service"
            with urllib.request.urlopen(url, timeout=5) as answer:
                assert answer.status == 200
                assert json.loads(answer.read()) == {"message": "Hello from my_service"}
        spans = receiver.wait_for_spans(2, timeout=10)
    log = service.log()

    # uvicorn re-raises SIGTERM once its graceful shutdown is done.
    assert service.process.exit_code() in (0, -signal.SIGTERM), log[-2000:]
    assert "Application shutdown complete" in log
    names = {span.name: span for span in spans}
    server, operation = names["GET /my_service"], names["my_service_operation"]
    assert operation.parent_span_id == server.span_id
    assert {span.service_name for span in spans} == {"my_service"}
    assert "tracing: service.name=my_service" in log

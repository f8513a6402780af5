"""What a new user does: bake, install as the README says, test, serve.

These are the tests that install from the package index instead of using the
template's environment, so they prove the generated project alone is enough:
the README's uv commands (`uv sync --locked`, `uv run pytest`), run with the uv
of the template's test environment, and its pip fallback (pip >= 25.1, `pip
install -e . --group dev`), run once. The environment uv made then serves the
project with the uvicorn command the README gives, and a request's spans reach
a real OTLP receiver on loopback.
"""

import json
import shlex
import signal
import sys
import tomllib
import urllib.request
import venv
from pathlib import Path

import pytest
import yaml
from doc_blocks import doc_commands
from packaging.utils import canonicalize_name

from baking import run
from otlp_receiver import OtlpReceiver
from service_harness.services import App, running_service

INSTALL_TIMEOUT = 600
UV = str(Path(sys.executable).parent / "uv")
# uv takes a Python this machine has; it never downloads one.
UV_ENVIRONMENT = {"UV_PYTHON_DOWNLOADS": "never"}
SKIP_REASON = "by design: this project depends only on its own protocol's exporter"


def readme_command(project_dir: Path, command: str) -> list[str]:
    """``command`` as the generated README shows it, split into arguments."""
    assert command in doc_commands(project_dir / "README.md")
    return shlex.split(command)


def as_run_by(program: list[str], arguments: list[str]) -> list[str]:
    """The README's ``uv ...`` or ``pip ...`` with ``program`` in its place."""
    return [*program, *arguments[1:]]


@pytest.fixture(scope="module")
def uv_project(cookies_session):
    """The default answers (`cookiecutter --no-input`), after `uv sync --locked`."""
    result = cookies_session.bake()
    assert result.exit_code == 0, result.exception
    project_dir = result.project_path
    sync = readme_command(project_dir, "uv sync --locked")

    install = run(
        as_run_by([UV], sync), project_dir, INSTALL_TIMEOUT, env=UV_ENVIRONMENT
    )

    assert install.returncode == 0, install.stderr[-3000:]
    return project_dir, str(project_dir / ".venv" / "bin" / "python")


def test_the_readme_uv_commands_install_the_lock_and_its_tests_pass(uv_project):
    project_dir, _ = uv_project
    pytest_run = readme_command(project_dir, "uv run pytest")

    result = run(as_run_by([UV], pytest_run), project_dir, env=UV_ENVIRONMENT)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # Only the grpc exporter is installed: the http/protobuf tests skip, and say why.
    assert "SKIPPED" in result.stdout
    assert SKIP_REASON in result.stdout


def test_the_pre_commit_mypy_passes_where_the_other_exporter_and_client_are_absent(
    uv_project,
):
    """The mypy overrides hold where their modules are absent, as generated; the
    template's own environment, where test_generation runs mypy, has them all."""
    project_dir, _ = uv_project
    config = yaml.safe_load((project_dir / ".pre-commit-config.yaml").read_text())
    (hook,) = [hook for hook in config["repos"][0]["hooks"] if hook["id"] == "mypy"]

    result = run(
        as_run_by([UV], shlex.split(hook["entry"])), project_dir, env=UV_ENVIRONMENT
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found" in result.stdout


def test_the_uv_environment_holds_the_locked_versions_of_what_the_answers_call_for(
    uv_project,
):
    project_dir, python = uv_project
    probe = (
        "import importlib.metadata as m;"
        "print(*sorted(f\"{d.metadata['Name']}=={d.version}\""
        " for d in m.distributions()))"
    )
    with (project_dir / "uv.lock").open("rb") as file:
        # The project's own entry has no version: it is dynamic.
        locked = {
            package["name"]: package.get("version")
            for package in tomllib.load(file)["package"]
        }

    installed = {
        canonicalize_name(name): version
        for name, version in (
            line.split("==")
            for line in run([python, "-c", probe], project_dir).stdout.split()
        )
    }

    assert "opentelemetry-exporter-otlp-proto-grpc" in installed
    assert "opentelemetry-exporter-otlp-proto-http" not in installed
    assert "opentelemetry-instrumentation-requests" not in installed
    assert {"pytest", "ruff", "mypy"} <= set(installed)
    different = {
        name: (version, locked.get(name))
        for name, version in installed.items()
        if name != "my-service" and locked.get(name) != version
    }
    assert different == {}


def test_uvicorn_serves_it_and_its_spans_reach_the_collector(uv_project):
    project_dir, python = uv_project
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


def test_the_readme_pip_fallback_installs_the_dev_group_and_its_tests_pass(
    cookies_session, tmp_path
):
    result = cookies_session.bake()
    assert result.exit_code == 0, result.exception
    project_dir = result.project_path
    upgrade = readme_command(project_dir, "pip install --upgrade 'pip>=25.1'")
    install = readme_command(project_dir, "pip install -e . --group dev")
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]

    for command in (upgrade, install):
        step = run(as_run_by(pip, command), project_dir, INSTALL_TIMEOUT)
        assert step.returncode == 0, step.stderr[-3000:]
    tests = run([python, "-m", "pytest", "-p", "no:cacheprovider"], project_dir)

    assert tests.returncode == 0, tests.stdout[-3000:]
    assert SKIP_REASON in tests.stdout

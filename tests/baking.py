"""Shared by the template's tests: how to check a bake and run what it made.

The answer combinations are service_harness.matrix's, shared with the harness.
"""

import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import Requirement

from service_harness.environment import scrubbed_environment
from service_harness.projects import BakedService

EXPORTER_PACKAGES = {
    "grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "http/protobuf": "opentelemetry-exporter-otlp-proto-http",
}
BASE_DEPENDENCIES = {
    "fastapi",
    "pydantic-settings",
    "uvicorn",
    "opentelemetry-api",
    "opentelemetry-sdk",
}
CLIENT_DEPENDENCIES = {"requests", "opentelemetry-instrumentation-requests"}


def expected_dependencies(answers: dict) -> set[str]:
    expected = BASE_DEPENDENCIES | {EXPORTER_PACKAGES[answers["otlp_protocol"]]}
    if answers["include_downstream_client"]:
        expected |= CLIENT_DEPENDENCIES
    return expected


def declared_dependencies(project_dir: Path) -> set[str]:
    with (project_dir / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    return {Requirement(spec).name for spec in project["dependencies"]}


def run(
    command: list[str], cwd: Path, timeout: float = 300, env: Mapping[str, str] = {}
) -> subprocess.CompletedProcess:
    """``command`` in the scrubbed environment, plus ``env``."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=scrubbed_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_generated_tests(project_dir: Path, *paths: str, python: str = sys.executable):
    """The project's own suite, or the test files ``paths`` of it."""
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths]
    return run(command, project_dir)


def text_files(project_dir: Path):
    for path in sorted(project_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def bake_checked(cookies_session, answers: dict) -> BakedService:
    """A project baked by pytest-cookies, asserted to have baked cleanly."""
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return BakedService(result.project_path.name, result.project_path)


def bake_with_client(cookies_session, slug: str) -> BakedService:
    """A project with the downstream client, baked once per test module."""
    return bake_checked(
        cookies_session, {"project_slug": slug, "include_downstream_client": True}
    )

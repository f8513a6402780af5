"""Shared by the template's tests: the answer combinations and how to check a bake."""

import os
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
PROCESSORS = ("batch", "simple")
PROTOCOLS = ("grpc", "http/protobuf")
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

COMBINATIONS = [
    {
        "span_processor": processor,
        "otlp_protocol": protocol,
        "include_downstream_client": client,
    }
    for processor in PROCESSORS
    for protocol in PROTOCOLS
    for client in (False, True)
]


def combination_id(answers: dict) -> str:
    """A readable test id, e.g. `processor:batch-protocol:grpc-client:no`."""
    client = "yes" if answers["include_downstream_client"] else "no"
    return (
        f"processor:{answers['span_processor']}"
        f"-protocol:{answers['otlp_protocol']}-client:{client}"
    )


def expected_dependencies(answers: dict) -> set[str]:
    expected = BASE_DEPENDENCIES | {EXPORTER_PACKAGES[answers["otlp_protocol"]]}
    if answers["include_downstream_client"]:
        expected |= CLIENT_DEPENDENCIES
    return expected


def declared_dependencies(project_dir: Path) -> set[str]:
    with (project_dir / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    return {Requirement(spec).name for spec in project["dependencies"]}


def environment_without_tracing_variables() -> dict[str, str]:
    """The caller's environment minus the variables the generated service reads."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "SERVICE_"))
    }


def run(
    command: list[str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment_without_tracing_variables(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_generated_tests(project_dir: Path, python: str = sys.executable):
    return run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project_dir)


def text_files(project_dir: Path):
    for path in sorted(project_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def bake_with_client(cookies_session, slug: str) -> Path:
    """A project with the downstream client, baked once per test module."""
    result = cookies_session.bake(
        extra_context={"project_slug": slug, "include_downstream_client": True}
    )
    assert result.exit_code == 0, result.exception
    return result.project_path

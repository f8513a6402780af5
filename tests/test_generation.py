"""Every combination of answers bakes a clean project; each variant of the generated
code passes its own tests.

``span_processor`` changes one line of generated code, the default in
``settings.py``, so the project's own suite runs once per protocol x client
(CODE_VARIANTS) and a cheap check proves each processor answer lands as that
default.
"""

import re
import sys

import pytest

from baking import (
    declared_dependencies,
    expected_dependencies,
    run,
    run_generated_tests,
    text_files,
)
from service_harness.matrix import CODE_VARIANTS, COMBINATIONS, combination_id

LEFTOVER_MARKERS = ("{{", "{%", "cookiecutter.")
# GitHub Actions' own expressions, `${{ matrix.python-version }}` in the generated
# workflow, are meant to be there: the template writes them inside {% raw %}.
GITHUB_EXPRESSION = re.compile(r"\$\{\{[^{}]*\}\}")


def bake_answers(cookies_session, answers):
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return answers, result.project_path


@pytest.fixture(scope="module", params=COMBINATIONS, ids=combination_id)
def baked(request, cookies_session):
    return bake_answers(cookies_session, request.param)


@pytest.fixture(scope="module", params=CODE_VARIANTS, ids=combination_id)
def baked_code_variant(request, cookies_session):
    return bake_answers(cookies_session, request.param)


def test_bake_succeeds_with_the_project_named_after_the_slug(baked):
    _, project_dir = baked

    assert project_dir.name == "my_service"
    assert (project_dir / "src" / "my_service" / "app.py").is_file()


def test_no_template_syntax_is_left_in_any_file(baked):
    _, project_dir = baked

    leftovers = [
        f"{path.relative_to(project_dir)}: {marker}"
        for path, text in text_files(project_dir)
        for marker in LEFTOVER_MARKERS
        if marker in GITHUB_EXPRESSION.sub("", text)
    ]
    assert leftovers == []


def test_no_cache_or_build_leftovers_are_copied_into_the_project(baked):
    _, project_dir = baked
    leftovers = {".ruff_cache", ".pytest_cache", "__pycache__", ".venv", ".hypothesis"}

    found = [p for p in project_dir.rglob("*") if p.name in leftovers]

    assert found == []


def test_ruff_check_is_clean(baked):
    _, project_dir = baked

    result = run([sys.executable, "-m", "ruff", "check", "."], project_dir)

    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean(baked):
    _, project_dir = baked

    result = run([sys.executable, "-m", "ruff", "format", "--check", "."], project_dir)

    assert result.returncode == 0, result.stdout + result.stderr


def test_pyproject_lists_exactly_the_dependencies_the_answers_call_for(baked):
    answers, project_dir = baked

    assert declared_dependencies(project_dir) == expected_dependencies(answers)


def test_client_files_exist_only_with_the_client(baked):
    answers, project_dir = baked
    client_files = [
        project_dir / "src" / "my_service" / "downstream_client.py",
        project_dir / "tests" / "test_downstream_client.py",
    ]

    present = [path.is_file() for path in client_files]

    assert present == [answers["include_downstream_client"]] * len(client_files)


def test_the_processor_answer_is_the_settings_default(baked):
    answers, project_dir = baked
    probe = "from my_service.settings import Settings; print(Settings().span_processor)"

    result = run(
        [sys.executable, "-c", probe],
        project_dir,
        env={"PYTHONPATH": str(project_dir / "src")},
    )

    assert result.stdout.strip() == answers["span_processor"], result.stderr


def test_the_readme_states_the_description_once(baked):
    _, project_dir = baked
    readme = (project_dir / "README.md").read_text()
    description = "A FastAPI service with OpenTelemetry tracing built in."

    assert readme.count(description) == 1
    assert "A FastAPI service with OpenTelemetry tracing built in" not in (
        readme.replace(description, "")
    )


def test_generated_project_tests_pass(baked_code_variant):
    _, project_dir = baked_code_variant

    result = run_generated_tests(project_dir)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout

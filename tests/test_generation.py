"""Every combination of answers bakes a clean project, which ruff and mypy in strict
mode pass; each variant of the generated code passes its own tests.

``span_processor`` changes one line of generated code, the default in
``settings.py``, so the project's own suite runs once per protocol x client
(CODE_VARIANTS) and a cheap check proves each processor answer lands as that
default.
"""

import re
import shutil
import sys
import tomllib
from pathlib import Path

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


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory) -> Path:
    """One cache for every bake: FastAPI, pydantic and OpenTelemetry are analysed
    once, and each bake's own modules again."""
    return tmp_path_factory.mktemp("mypy_cache")


def run_mypy(project_dir: Path, cache: Path):
    """`mypy` as the project's `make lint` runs it: its own pyproject's settings."""
    return run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)], project_dir)


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


def test_mypy_strict_passes_on_all_of_src(baked, mypy_cache):
    _, project_dir = baked
    with (project_dir / "pyproject.toml").open("rb") as file:
        config = tomllib.load(file)["tool"]["mypy"]
    modules = list((project_dir / "src").rglob("*.py"))

    result = run_mypy(project_dir, mypy_cache)

    assert (config["strict"], config["files"]) == (True, ["src"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no issues found in {len(modules)} source files" in result.stdout


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


def readme_example(project_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The README's "Add your own route": {path: content} of each ```python
    block, named by its first line, and the lines of its ```diff block."""
    text = (project_dir / "README.md").read_text()
    section = text.split("## Add your own route", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ")] = rest
    (diff,) = re.findall(r"```diff\n(.*?)```", section, re.DOTALL)
    return files, diff.splitlines()


def apply_diff(text: str, diff: list[str]) -> str:
    """The README's diff applied as a reader would: each context line found in
    order, `-` lines replaced by the `+` lines after them, `...` skipped."""
    lines, at = text.splitlines(), 0
    for line in diff:
        if line == "...":
            continue
        if line[0] == "+":
            lines.insert(at, line[1:])
            at += 1
            continue
        at = lines.index(line[1:], at)
        if line[0] == "-":
            del lines[at]
        else:
            at += 1
    return "\n".join(lines) + "\n"


def test_the_readmes_own_route_example_works_as_written(
    baked_code_variant, tmp_path, mypy_cache
):
    """The module, the two lines in app.py and the test, as the README shows
    them: linted and type-checked as the project is, and the test passes."""
    _, baked_dir = baked_code_variant
    project_dir = tmp_path / baked_dir.name
    shutil.copytree(baked_dir, project_dir)
    files, diff = readme_example(project_dir)
    assert sorted(files) == ["src/my_service/refunds.py", "tests/test_refunds.py"]
    for path, content in files.items():
        (project_dir / path).write_text(content)
    app = project_dir / "src" / "my_service" / "app.py"
    app.write_text(apply_diff(app.read_text(), diff))

    checks = [
        run([sys.executable, "-m", "ruff", "check", "."], project_dir),
        run([sys.executable, "-m", "ruff", "format", "--check", "."], project_dir),
        run_mypy(project_dir, mypy_cache),
        run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_refunds.py",
            ],
            project_dir,
        ),
    ]

    assert [c.returncode for c in checks] == [0, 0, 0, 0], [
        c.stdout + c.stderr for c in checks
    ]
    assert "2 passed" in checks[3].stdout

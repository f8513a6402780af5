"""Remove the files the answers exclude, then print the next steps.

This hook only deletes files inside the new project and prints: no git, no
installs, no network. cruft runs it again on `update`, `diff` and `check`, so
it must be safe to repeat.
"""

import json
import shutil
import sys
from pathlib import Path

DOWNSTREAM_CLIENT_FILES = (
    "src/{package}/downstream_client.py",
    "tests/test_downstream_client.py",
)


def remove_paths(project_dir: Path, relative_paths: list[str]) -> None:
    for relative_path in relative_paths:
        path = project_dir / relative_path
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def excluded_paths(package: str, include_downstream_client: bool) -> list[str]:
    """The files the answers leave out, relative to the project directory."""
    if include_downstream_client:
        return []
    return [path.format(package=package) for path in DOWNSTREAM_CLIENT_FILES]


def next_steps(project_dir: Path, package: str, port: int) -> str:
    return "\n".join(
        [
            f"Created {project_dir}. Next:",
            f"  cd {project_dir.name}",
            "  uv sync --locked",
            "  uv run pytest",
            f"  uv run uvicorn --factory {package}.app:create_app --port {port}",
            "(Without uv: README.md, section Run, installs with pip.)",
        ]
    )


def main(project_dir: Path, answers: dict) -> int:
    package = answers["project_slug"]
    remove_paths(
        project_dir, excluded_paths(package, answers["include_downstream_client"])
    )
    print(next_steps(project_dir, package, int(answers["service_port"])))
    return 0


def rendered_answers() -> dict[str, object]:
    """The answers, as cookiecutter rendered them into this file through tojson."""
    return {
        "project_slug": json.loads(
            r'''{{ cookiecutter.project_slug | tojson }}'''
        ),
        "service_port": json.loads(
            r'''{{ cookiecutter.service_port | tojson }}'''
        ),
        "include_downstream_client": json.loads(
            r'''{{ cookiecutter.include_downstream_client | tojson }}'''
        ),
    }


if __name__ == "__main__":
    sys.exit(main(Path.cwd(), rendered_answers()))

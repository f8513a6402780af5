"""A project made with cruft takes a later template change with `cruft update`.

The template is copied into a temporary git repository, a project is created
from it with `cruft create` and committed, then the template gets a new commit.
`cruft check` must then fail, `cruft update` must apply the change cleanly (and
re-run the hooks, which only delete and print), and `cruft check` pass again.
Everything is a local path: no network.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service_harness.environment import scrubbed_environment
from service_harness.projects import TEMPLATE_DIR

TEMPLATE_PARTS = ("cookiecutter.json", "hooks", "template_filters.py")
PROJECT_TEMPLATE = "{{cookiecutter.project_slug}}"
CACHES = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".ruff_cache", ".pytest_cache", ".hypothesis"
)
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
TIMEOUT = 60
NEW_README_LINE = "Updated by the template: this line came with `cruft update`."


def isolated_environment(home: Path) -> dict[str, str]:
    """No user config, no tracing variables, and git limited to local paths."""
    return scrubbed_environment(
        {
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ALLOW_PROTOCOL": "file",
            "GIT_TERMINAL_PROMPT": "0",
        },
        drop=("GIT_",),
    )


def run(command: list[str], cwd: Path, env: dict[str, str]):
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def cruft(arguments: list[str], cwd: Path, env: dict[str, str]):
    return run([sys.executable, "-m", "cruft", *arguments], cwd, env)


def git(arguments: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = run([*GIT, *arguments], cwd, env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def commit_everything(repository: Path, message: str, env: dict[str, str]) -> str:
    git(["add", "--all"], repository, env)
    git(["commit", "--quiet", "-m", message], repository, env)
    return git(["rev-parse", "HEAD"], repository, env)


@pytest.fixture
def template_repository(tmp_path) -> Path:
    repository = tmp_path / "template"
    repository.mkdir()
    for part in (*TEMPLATE_PARTS, PROJECT_TEMPLATE):
        source = TEMPLATE_DIR / part
        if source.is_dir():
            shutil.copytree(source, repository / part, ignore=CACHES)
        else:
            shutil.copy2(source, repository / part)
    return repository


def test_cruft_update_applies_a_later_template_change_cleanly(
    template_repository, tmp_path
):
    env = isolated_environment(tmp_path / "home")
    (tmp_path / "home").mkdir()
    git(["init", "--quiet", "--initial-branch=main"], template_repository, env)
    first = commit_everything(template_repository, "template", env)

    created = cruft(
        [
            "create",
            "--no-input",
            "--output-dir",
            str(tmp_path),
            str(template_repository),
        ],
        tmp_path,
        env,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = tmp_path / "my_service"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == first
    assert not (project / "src" / "my_service" / "downstream_client.py").exists()
    git(["init", "--quiet", "--initial-branch=main"], project, env)
    commit_everything(project, "generated", env)
    assert cruft(["check"], project, env).returncode == 0

    readme = template_repository / PROJECT_TEMPLATE / "README.md"
    readme.write_text(readme.read_text() + f"\n{NEW_README_LINE}\n")
    (template_repository / PROJECT_TEMPLATE / "NOTICE.md").write_text(
        "{{ cookiecutter.project_slug }} is generated from a template.\n"
    )
    # A file the post-generation hook removes without the client: only if cruft
    # re-runs the hook on both versions does this change stay out of the update.
    client = next(template_repository.rglob("downstream_client.py"))
    client.write_text(client.read_text() + "# changed in the template\n")
    second = commit_everything(template_repository, "template change", env)

    outdated = cruft(["check"], project, env)
    assert outdated.returncode != 0, outdated.stdout

    updated = cruft(["update", "--skip-apply-ask"], project, env)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert NEW_README_LINE in (project / "README.md").read_text()
    notice = (project / "NOTICE.md").read_text()
    assert notice == "my_service is generated from a template.\n"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    # The hook ran again on both template versions: the client stub stays removed.
    assert not (project / "src" / "my_service" / "downstream_client.py").exists()
    assert not list(project.rglob("*.rej"))
    assert cruft(["check"], project, env).returncode == 0

"""Baked projects: generated through cookiecutter's Python API, then made importable.

The pair is baked with the same config files a person would pass to
``cookiecutter --config-file``, so the demo, the tests and the benchmark
exercise exactly what ``examples/`` documents. A baked package becomes
importable either by an editable install into the running interpreter's
environment (what ``make demo`` does) or by putting its ``src`` directory on
PYTHONPATH (what the tests do, because installing is slow).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.config import get_config
from cookiecutter.exceptions import CookiecutterException
from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = TEMPLATE_DIR / "examples"
SERVICE_A_CONFIG = EXAMPLES_DIR / "service_a.yaml"
SERVICE_B_CONFIG = EXAMPLES_DIR / "service_b.yaml"
PIP_TIMEOUT = 300.0


class ProjectSetupError(RuntimeError):
    """Baking or installing a project failed; the message carries the output."""


@dataclass(frozen=True)
class BakedService:
    """A generated project on disk, and the port its answers chose, if they did."""

    slug: str
    project_dir: Path
    port: int | None = None
    config_file: Path | None = None

    @property
    def source_dir(self) -> Path:
        return self.project_dir / "src"

    @property
    def app_factory(self) -> str:
        return f"{self.slug}.app:create_app"


@dataclass(frozen=True)
class BakedPair:
    service_a: BakedService
    service_b: BakedService

    def __iter__(self) -> Iterator[BakedService]:
        return iter((self.service_b, self.service_a))


def read_answers(config_file: Path) -> dict[str, object]:
    """The ``default_context`` of a cookiecutter config file, parsed by cookiecutter."""
    return dict(get_config(str(config_file))["default_context"])


def bake(
    output_dir: Path,
    config_file: Path | None = None,
    answers: Mapping[str, object] | None = None,
) -> BakedService:
    """Bake one project into ``output_dir``: the template's defaults, then the
    answers in ``config_file``, then ``answers``.

    The post-generation hook's "next steps" text goes to
    ``output_dir/bake-<config name>.log`` instead of the terminal: those steps
    are for a person baking by hand, not for the reader of a demo or a run.
    """
    _require_template()
    answers = dict(answers or {})
    known = {**(read_answers(config_file) if config_file else {}), **answers}
    hook_log = output_dir / f"bake-{config_file.stem if config_file else 'answers'}.log"
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        with _stdout_to(hook_log):
            project_dir = Path(
                cookiecutter(
                    str(TEMPLATE_DIR),
                    config_file=str(config_file) if config_file else None,
                    extra_context=answers,
                    no_input=True,
                    output_dir=str(output_dir),
                )
            )
    except CookiecutterException as error:
        # The hooks have already printed their reasons to stderr.
        raise ProjectSetupError(f"baking into {output_dir} failed: {error}") from error
    return BakedService(
        # The template names the project directory after the slug.
        slug=project_dir.name,
        project_dir=project_dir,
        port=int(str(known["service_port"])) if "service_port" in known else None,
        config_file=config_file,
    )


def bake_pair(
    output_dir: Path,
    announce: Callable[[Path], None] = lambda config_file: None,
) -> BakedPair:
    """Bake service_b and service_a from ``examples/`` into ``output_dir``;
    ``announce`` hears of each config file before its bake."""
    baked = []
    for config_file in (SERVICE_B_CONFIG, SERVICE_A_CONFIG):
        announce(config_file)
        baked.append(bake(output_dir, config_file))
    service_b, service_a = baked
    return BakedPair(service_a=service_a, service_b=service_b)


def install_editable(project_dirs: list[Path], python: str = sys.executable) -> None:
    """``python -m pip install --quiet -e DIR ...`` into ``python``'s environment.

    One pip run for all of them: pip's start-up dominates, and the services'
    dependencies are already installed.
    """
    editables = [argument for path in project_dirs for argument in ("-e", str(path))]
    _pip(python, "install", "--quiet", *editables)


def uninstall(distributions: list[str], python: str = sys.executable) -> None:
    """Remove installed distributions, e.g. editable installs of a scratch directory."""
    _pip(python, "uninstall", "--quiet", "--yes", *distributions)


def pythonpath_with(source_dirs: list[Path], environ: dict[str, str]) -> str:
    """A PYTHONPATH value with ``source_dirs`` first, then whatever was set."""
    entries = [str(path) for path in source_dirs]
    if environ.get("PYTHONPATH"):
        entries.append(environ["PYTHONPATH"])
    return os.pathsep.join(entries)


def _pip(python: str, *arguments: str) -> None:
    command = [python, "-m", "pip", "--disable-pip-version-check", *arguments]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise ProjectSetupError(
            f"{' '.join(command)} failed with code {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )


def _require_template() -> None:
    # The harness finds the template next to itself; a wheel install has none.
    if not (TEMPLATE_DIR / "cookiecutter.json").is_file():
        raise ProjectSetupError(
            f"no cookiecutter.json in {TEMPLATE_DIR}: run the harness from the "
            "template's repository (make demo, or pip install -e .)"
        )


@contextmanager
def _stdout_to(path: Path) -> Iterator[None]:
    """Send file descriptor 1 to ``path``: hooks run as subprocesses and inherit it."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 1)
            try:
                yield
            finally:
                sys.stdout.flush()
                os.dup2(saved, 1)
    finally:
        os.close(saved)

"""The one launcher: an app factory served by uvicorn as a real process on loopback.

Every service the harness runs, a baked project or an app of the benchmark's
own, runs as the generated README says, ``python -m uvicorn --factory
<module>:create_app``, imported from the directories put on PYTHONPATH (or
installed), with the scrubbed environment plus its run's variables, its output
in a log file. It is ready when it answers ``/healthz`` (an app without one:
when its port accepts connections) within a bound; a service that never gets
ready is stopped before the error is raised, and :func:`running_service` stops
it by PID whatever happens inside its ``with`` block.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service_harness.environment import scrubbed_environment
from service_harness.health import (
    DEFAULT_HEALTH_TIMEOUT,
    ServiceNotHealthy,
    lost_its_port,
    wait_until_up,
)
from service_harness.ports import LOOPBACK, free_port
from service_harness.processes import DEFAULT_STOP_TIMEOUT, ManagedProcess
from service_harness.projects import BakedService, pythonpath_with

TRACING_LINE_MARK = "tracing: "
# A free port can be taken between picking and binding it; a service given no
# port gets another one this many times in all.
BIND_ATTEMPTS = 3


@dataclass
class RunningService:
    """One served app: its name, the port it got and the process serving it."""

    name: str
    port: int
    process: ManagedProcess
    # How long it took to answer its health check (or to listen).
    ready_after: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log(self) -> str:
        return self.process.log_text()

    def tracing_line(self) -> str | None:
        """The generated service's start-up line saying where its spans go."""
        for line in self.log().splitlines():
            if TRACING_LINE_MARK in line:
                return line[line.index(TRACING_LINE_MARK) :]
        return None


def uvicorn_command(
    factory: str,
    port: int,
    workers: int = 1,
    arguments: Sequence[str] = (),
    prefix: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """``prefix`` runs it (``taskset -c 0`` pins it to a core)."""
    command = [*prefix, python, "-m", "uvicorn", "--factory", factory]
    command += ["--host", LOOPBACK, "--port", str(port), *arguments]
    if workers > 1:
        command += ["--workers", str(workers)]
    return command


@dataclass(frozen=True)
class App:
    """What to serve: a uvicorn app factory, where it imports from, how it is up."""

    name: str
    factory: str
    pythonpath: tuple[Path, ...] = ()
    cwd: Path | None = None
    # False for an app without /healthz: it is up when its port accepts.
    health_check: bool = True
    # SIGINT lets an app's atexit flush run; uvicorn's SIGTERM path re-raises
    # the signal and skips it.
    stop_signal: int = signal.SIGTERM
    # Another environment's interpreter, where the app is installed.
    python: str = sys.executable

    @classmethod
    def baked(cls, baked: BakedService, from_source: bool = True) -> App:
        """A generated project, imported from its ``src`` (or else installed)."""
        pythonpath = (baked.source_dir,) if from_source else ()
        return cls(baked.slug, baked.app_factory, pythonpath, baked.project_dir)


def start_service(
    app: App,
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
    arguments: Sequence[str] = (),
    prefix: Sequence[str] = (),
    timeout: float = DEFAULT_HEALTH_TIMEOUT,
) -> RunningService:
    """Start ``app`` on ``port`` and return once it is up. With ``port`` None it
    gets a free port, and another one if that was taken before it could bind."""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        chosen = port or free_port()
        process = _launch(app, log_dir, env, chosen, workers, arguments, prefix)
        service = RunningService(app.name, chosen, process)
        try:
            service.ready_after = wait_until_up(
                process, chosen, timeout, app.health_check
            )
        except ServiceNotHealthy:
            process.stop(DEFAULT_STOP_TIMEOUT)
            if port is None and attempt < BIND_ATTEMPTS and lost_its_port(process):
                continue
            raise
        except BaseException:
            process.stop(DEFAULT_STOP_TIMEOUT)
            raise
        return service
    raise AssertionError("unreachable: the last attempt returns or raises")


def _launch(
    app: App,
    log_dir: Path,
    env: Mapping[str, str] | None,
    port: int,
    workers: int,
    arguments: Sequence[str],
    prefix: Sequence[str],
) -> ManagedProcess:
    # Log lines reach the file as they happen, not when a buffer fills.
    environment = scrubbed_environment({"PYTHONUNBUFFERED": "1"}, env or {})
    if app.pythonpath:
        environment["PYTHONPATH"] = pythonpath_with(list(app.pythonpath), environment)
    return ManagedProcess(
        app.name,
        uvicorn_command(app.factory, port, workers, arguments, prefix, app.python),
        log_dir / f"{app.name}-{port}.log",
        env=environment,
        cwd=app.cwd,
    ).start()


@contextlib.contextmanager
def running_service(
    app: App, log_dir: Path, env: Mapping[str, str], **options: Any
) -> Iterator[RunningService]:
    """:func:`start_service`, stopped by PID when the block ends."""
    service = start_service(app, log_dir, env=env, **options)
    try:
        yield service
    finally:
        service.process.stop(DEFAULT_STOP_TIMEOUT, app.stop_signal)

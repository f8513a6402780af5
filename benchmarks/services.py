"""How each configuration's service is baked, started on the service core and stopped.

A generated project runs exactly as its README says, `python -m uvicorn
--factory <slug>.app:create_app`, imported from its `src` (PYTHONPATH) rather
than installed; the reference app runs the same way from this package. The
environment is the caller's minus every OTEL_* and SERVICE_* variable, plus the
configuration's own, so a variable set in the shell cannot leak into a run.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.configurations import (
    COLLECTOR_DOWN,
    COLLECTOR_GRPC,
    COLLECTOR_HTTP,
    EXAMPLE,
    PAIR,
    REFERENCE,
    ROOT,
    Configuration,
)
from benchmarks.cpu_pinning import SERVICE_CORE, pinned
from pair_demo.health import wait_until_healthy
from pair_demo.ports import free_port
from pair_demo.processes import ManagedProcess
from pair_demo.projects import BakedPair, BakedService, bake_from_config, bake_pair

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
SERVICE_ANSWERS = (
    "# The benchmark's service: the template's defaults.\n"
    "default_context:\n"
    '  project_name: "My Service"\n'
    "  service_port: 8000\n"
)


@dataclass(frozen=True)
class BakedProjects:
    service: BakedService
    pair: BakedPair | None


def bake_service(work_dir: Path) -> BakedService:
    """Bake the template with its default answers (slug `my_service`)."""
    answers = work_dir / "service.yaml"
    answers.parent.mkdir(parents=True, exist_ok=True)
    answers.write_text(SERVICE_ANSWERS, encoding="utf-8")
    return bake_from_config(answers, work_dir / "service")


def bake_projects(work_dir: Path, with_pair: bool) -> BakedProjects:
    service = bake_service(work_dir)
    pair = bake_pair(work_dir / "pair") if with_pair else None
    return BakedProjects(service, pair)


def clean_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "SERVICE_", "BENCH_"))
    }


def collector_environment(
    configuration: Configuration, grpc_endpoint: str, http_endpoint: str
) -> dict[str, str]:
    """Where the configuration's spans go: the receiver, or a closed port."""
    if configuration.collector == COLLECTOR_GRPC:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": grpc_endpoint}
    if configuration.collector == COLLECTOR_HTTP:
        return {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": http_endpoint,
        }
    if configuration.collector == COLLECTOR_DOWN:
        # Free now and nobody listens: every export is refused.
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{LOOPBACK}:{free_port()}"}
    return {}


def uvicorn_command(
    factory: str, port: int, arguments: Sequence[str] = ()
) -> list[str]:
    return pinned(
        SERVICE_CORE,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            *arguments,
        ],
    )


@dataclass
class RunningTarget:
    """The processes of one configuration; requests go to `base_url`."""

    processes: list[ManagedProcess]
    base_url: str
    paths: Mapping[str, str]
    # SIGINT lets the reference app's atexit flush run; uvicorn's SIGTERM
    # path re-raises the signal and skips it.
    stop_signal: int = signal.SIGTERM

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def url(self, endpoint: str) -> str:
        return self.base_url + self.paths[endpoint]

    def stop(self) -> None:
        # Front service first, so the downstream still answers its last calls.
        for process in reversed(self.processes):
            if self.stop_signal != signal.SIGTERM and process.exit_code() is None:
                os.kill(process.pid, self.stop_signal)
                _wait_for_exit(process, STOP_TIMEOUT)
            process.stop(timeout=STOP_TIMEOUT)


def start_target(
    configuration: Configuration,
    projects: BakedProjects,
    collector: Mapping[str, str],
    log_dir: Path,
) -> RunningTarget:
    """Start the configuration's service (or pair) and wait until it answers."""
    environment = {
        **clean_environment(),
        **collector,
        **configuration.environment,
    }
    if configuration.kind == PAIR:
        return _start_pair(configuration, projects, environment, log_dir)
    if configuration.kind == REFERENCE:
        return _start_reference(configuration, projects, environment, log_dir)
    return _start_service(configuration, projects.service, environment, log_dir)


def _start_service(
    configuration: Configuration,
    baked: BakedService,
    environment: dict[str, str],
    log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> RunningTarget:
    port = free_port()
    factory, pythonpath = baked.app_factory, str(baked.source_dir)
    if configuration.factory is not None:
        factory = configuration.factory
        pythonpath = os.pathsep.join((pythonpath, str(REPO_ROOT)))
        extra = {**(extra or {}), "BENCH_APP_MODULE": f"{baked.slug}.app"}
    process = ManagedProcess(
        baked.slug,
        uvicorn_command(factory, port, configuration.uvicorn_arguments),
        log_dir / f"{configuration.name}-{baked.slug}-{port}.log",
        env={**environment, "PYTHONPATH": pythonpath, **(extra or {})},
    ).start()
    base_url = f"http://{LOOPBACK}:{port}"
    _wait_or_stop(
        [process], lambda: wait_until_healthy(process, base_url, START_TIMEOUT)
    )
    return RunningTarget([process], base_url, {ROOT: "/", EXAMPLE: f"/{baked.slug}"})


def _start_reference(
    configuration: Configuration,
    projects: BakedProjects,
    environment: dict[str, str],
    log_dir: Path,
) -> RunningTarget:
    slug = projects.service.slug
    port = free_port()
    process = ManagedProcess(
        "reference",
        uvicorn_command(
            "benchmarks.reference_app:create_app",
            port,
            configuration.uvicorn_arguments,
        ),
        log_dir / f"{configuration.name}-reference-{port}.log",
        env={
            **environment,
            "PYTHONPATH": str(REPO_ROOT),
            "BENCH_REFERENCE_SLUG": slug,
        },
        cwd=REPO_ROOT,
    ).start()
    _wait_or_stop([process], lambda: wait_until_listening(process, port, START_TIMEOUT))
    return RunningTarget(
        [process],
        f"http://{LOOPBACK}:{port}",
        {ROOT: "/", EXAMPLE: f"/{slug}"},
        stop_signal=signal.SIGINT,
    )


def _start_pair(
    configuration: Configuration,
    projects: BakedProjects,
    environment: dict[str, str],
    log_dir: Path,
) -> RunningTarget:
    if projects.pair is None:
        raise RuntimeError("the pair was not baked")
    downstream = _start_service(
        configuration, projects.pair.service_b, environment, log_dir
    )
    try:
        front = _start_service(
            configuration,
            projects.pair.service_a,
            environment,
            log_dir,
            extra={"SERVICE_DOWNSTREAM_URL": downstream.base_url},
        )
    except BaseException:
        downstream.stop()
        raise
    return RunningTarget(
        [*downstream.processes, *front.processes], front.base_url, front.paths
    )


def _wait_or_stop(processes: list[ManagedProcess], wait: Callable[[], object]) -> None:
    try:
        wait()
    except BaseException:
        for process in processes:
            process.stop(timeout=STOP_TIMEOUT)
        raise


def wait_until_listening(process: ManagedProcess, port: int, timeout: float) -> None:
    """Wait for the port to accept a connection: uvicorn listens once it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.exit_code() is not None:
            raise RuntimeError(
                f"{process.name} exited before listening:\n{process.log_tail()}"
            )
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"{process.name} did not listen on {port} within {timeout} s:\n"
        f"{process.log_tail()}"
    )


def _wait_for_exit(process: ManagedProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.exit_code() is None and time.monotonic() < deadline:
        time.sleep(0.05)

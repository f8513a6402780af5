"""``RunningPair``: service_b and service_a as real uvicorn processes, started and
stopped as one.

service_b starts first, because service_a is pointed at it
(``SERVICE_DOWNSTREAM_URL``); each must answer ``/healthz`` before the next
step. Both export to the collector endpoint given, over the protocol and with
the span processor given. Stopping goes the other way round, service_a first so
no call is in flight towards a stopped service_b, and checks that each port is
free again. Leaving the ``with`` block stops everything, whatever happened
inside it, and so does a failure while starting.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pair_demo.health import DEFAULT_HEALTH_TIMEOUT, wait_until_healthy
from pair_demo.ports import (
    LOOPBACK,
    free_port,
    preferred_or_free_port,
    wait_until_port_is_free,
)
from pair_demo.processes import DEFAULT_STOP_TIMEOUT, ManagedProcess, pid_is_alive
from pair_demo.projects import BakedPair, BakedService, pythonpath_with

PROTOCOLS = ("grpc", "http/protobuf")
PROCESSORS = ("batch", "simple")
CALL_TIMEOUT = 15.0
PORT_RELEASE_TIMEOUT = 5.0
TRACING_LINE_MARK = "tracing: "
# Variables the generated service reads: the caller's own values must not leak
# into a run whose whole point is a known configuration.
SERVICE_VARIABLE_PREFIXES = ("OTEL_", "SERVICE_")

Report = Callable[[str], None]


def _ignore(message: str) -> None:
    return None


@dataclass(frozen=True)
class PairOptions:
    """How to run the pair; the collector endpoint is a base URL, as for the SDK."""

    protocol: str
    processor: str
    collector_endpoint: str
    log_dir: Path
    # True: import each package from its src directory (PYTHONPATH); False: it
    # must already be installed in this interpreter's environment.
    import_from_source: bool = True
    use_example_ports: bool = False
    workers: int = 1
    extra_env: Mapping[str, str] = field(default_factory=dict)
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        if self.processor not in PROCESSORS:
            raise ValueError(f"processor must be one of {PROCESSORS}")


@dataclass
class RunningService:
    """One baked service, the port it got and the process serving it."""

    baked: BakedService
    port: int
    process: ManagedProcess

    @property
    def slug(self) -> str:
        return self.baked.slug

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def route_url(self) -> str:
        return f"{self.base_url}/{self.slug}"

    def tracing_line(self) -> str | None:
        """The service's startup line saying where its spans go, once logged."""
        try:
            log = self.process.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        for line in log.splitlines():
            if TRACING_LINE_MARK in line:
                return line[line.index(TRACING_LINE_MARK) :]
        return None


@dataclass(frozen=True)
class ServiceAnswer:
    status: int
    body: Any


def uvicorn_command(baked: BakedService, port: int, workers: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        baked.app_factory,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    return command


def service_environment(
    baked: BakedService, options: PairOptions, downstream_url: str | None
) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(SERVICE_VARIABLE_PREFIXES)
    }
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = options.collector_endpoint
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = options.protocol
    env["SERVICE_SPAN_PROCESSOR"] = options.processor
    # Log lines reach the file as they happen, not when a buffer fills.
    env["PYTHONUNBUFFERED"] = "1"
    if options.import_from_source:
        env["PYTHONPATH"] = pythonpath_with([baked.source_dir], env)
    if downstream_url is not None:
        env["SERVICE_DOWNSTREAM_URL"] = downstream_url
    env.update(options.extra_env)
    return env


def get_json(url: str, timeout: float = CALL_TIMEOUT) -> ServiceAnswer:
    """GET ``url``; an HTTP error status is an answer too, not an exception.

    The body is parsed JSON, or the text itself when it is not JSON.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return ServiceAnswer(response.status, _json_or_text(response.read()))
    except urllib.error.HTTPError as error:
        return ServiceAnswer(error.code, _json_or_text(error.read()))


def _json_or_text(body: bytes) -> Any:
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class RunningPair:
    """Context manager: start service_b, then service_a; stop both on exit.

    ``report`` receives one short line per step (the demo prints them).
    """

    def __init__(
        self, baked: BakedPair, options: PairOptions, report: Report = _ignore
    ) -> None:
        self.baked = baked
        self.options = options
        self._report = report
        self.services: list[RunningService] = []
        self.stop_problems: list[str] = []

    # lifecycle

    def __enter__(self) -> RunningPair:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        service_b = self._start_service(self.baked.service_b, downstream_url=None)
        self._start_service(self.baked.service_a, downstream_url=service_b.base_url)

    def stop(self) -> list[str]:
        """Stop every service started, newest first; return what went wrong."""
        while self.services:
            service = self.services.pop()
            try:
                self.stop_problems += self._stop_service(service)
            except Exception as error:  # the other service must still be stopped
                self.stop_problems.append(f"{service.slug}: stop failed: {error!r}")
        return self.stop_problems

    # access

    @property
    def service_a(self) -> RunningService:
        return self._service(self.baked.service_a.slug)

    @property
    def service_b(self) -> RunningService:
        return self._service(self.baked.service_b.slug)

    def call_service_a(self, timeout: float = CALL_TIMEOUT) -> ServiceAnswer:
        return get_json(self.service_a.route_url, timeout)

    def pids(self) -> list[int]:
        """Every PID the pair runs now: each uvicorn and its worker processes."""
        pids: list[int] = []
        for service in self.services:
            pids += [service.process.pid, *service.process.descendant_pids()]
        return pids

    def ports(self) -> list[int]:
        return [service.port for service in self.services]

    # internals

    def _service(self, slug: str) -> RunningService:
        for service in self.services:
            if service.slug == slug:
                return service
        raise LookupError(f"{slug} is not running")

    def _start_service(
        self, baked: BakedService, downstream_url: str | None
    ) -> RunningService:
        port = self._choose_port(baked)
        process = ManagedProcess(
            name=baked.slug,
            command=uvicorn_command(baked, port, self.options.workers),
            log_path=self.options.log_dir / f"{baked.slug}.log",
            env=service_environment(baked, self.options, downstream_url),
            cwd=baked.project_dir,
        )
        service = RunningService(baked, port, process)
        process.start()
        self.services.append(service)
        self._report(
            f"starting {baked.slug} on {LOOPBACK}:{port} (pid {process.pid}, "
            f"log {process.log_path})"
        )
        seconds = wait_until_healthy(
            process, service.base_url, self.options.health_timeout
        )
        self._report(f"{baked.slug} is up after {seconds:.1f} s")
        tracing = service.tracing_line()
        if tracing is not None:
            self._report(f"{baked.slug} logged: {tracing}")
        return service

    def _choose_port(self, baked: BakedService) -> int:
        if not self.options.use_example_ports:
            return free_port()
        port, is_example = preferred_or_free_port(baked.port)
        if not is_example:
            self._report(
                f"port {baked.port} (from {baked.config_file.name}) is taken; "
                f"{baked.slug} gets free port {port} instead"
            )
        return port

    def _stop_service(self, service: RunningService) -> list[str]:
        process = service.process
        pids = [process.pid, *process.descendant_pids()]
        exit_code = process.stop(self.options.stop_timeout)
        problems = [
            f"{service.slug}: pid {pid} still running after stop"
            for pid in pids
            if pid_is_alive(pid)
        ]
        if not wait_until_port_is_free(service.port, PORT_RELEASE_TIMEOUT):
            problems.append(f"{service.slug}: port {service.port} still bound")
        self._report(
            f"stopped {service.slug} (pid {process.pid}, {describe_exit(exit_code)}); "
            + ("; ".join(problems) or f"port {service.port} released")
        )
        return problems


def describe_exit(exit_code: int | None) -> str:
    if exit_code is None:
        return "exit code unknown"
    if exit_code < 0:
        # uvicorn shuts down gracefully, then re-raises the signal it received.
        return f"ended by {signal.Signals(-exit_code).name}"
    return f"exit code {exit_code}"

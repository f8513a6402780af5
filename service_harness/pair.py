"""``RunningPair``: service_b and service_a as real uvicorn processes, started and
stopped as one.

service_b starts first, because service_a is pointed at it
(``SERVICE_DOWNSTREAM_URL``); each must answer ``/healthz`` before the next
step. Both get the environment given (where and how they export). Stopping
goes the other way round, service_a first so no call is in flight towards a
stopped service_b, and checks that each port is free again. Leaving the
``with`` block stops everything, whatever happened inside it, and so does a
failure while starting.
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service_harness.ports import (
    LOOPBACK,
    port_is_free,
    wait_until_port_is_free,
)
from service_harness.processes import pid_is_alive
from service_harness.projects import BakedPair, BakedService
from service_harness.services import App, RunningService, start_service

CALL_TIMEOUT = 15.0
PORT_RELEASE_TIMEOUT = 5.0

Report = Callable[[str], None]


@dataclass(frozen=True)
class PairOptions:
    """How to run the pair; ``env`` goes to both services."""

    log_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    # True: import each package from its src directory (PYTHONPATH); False: it
    # must already be installed in this interpreter's environment.
    import_from_source: bool = True
    use_example_ports: bool = False
    workers: int = 1
    # Runs each uvicorn (the benchmark pins the pair to a core).
    command_prefix: Sequence[str] = ()


@dataclass(frozen=True)
class ServiceAnswer:
    status: int
    body: Any


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
        self,
        baked: BakedPair,
        options: PairOptions,
        report: Report = lambda message: None,
    ) -> None:
        self.baked = baked
        self.options = options
        self._report = report
        self.services: list[RunningService] = []
        self.stop_problems: list[str] = []

    def __enter__(self) -> RunningPair:
        """Start both; a failure stops whatever had started before it is raised."""
        try:
            service_b = self._start_service(self.baked.service_b, {})
            downstream = {"SERVICE_DOWNSTREAM_URL": service_b.base_url}
            self._start_service(self.baked.service_a, downstream)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every service started, newest first; what went wrong goes to
        ``stop_problems``."""
        while self.services:
            service = self.services.pop()
            try:
                self.stop_problems += self._stop_service(service)
            except Exception as error:  # the other service must still be stopped
                self.stop_problems.append(f"{service.name}: stop failed: {error!r}")

    @property
    def route_url(self) -> str:
        """service_a's example route, the one that calls service_b."""
        service_a = self.services[-1]  # it starts after service_b
        return f"{service_a.base_url}/{service_a.name}"

    def call_service_a(self, timeout: float = CALL_TIMEOUT) -> ServiceAnswer:
        return get_json(self.route_url, timeout)

    def _start_service(
        self, baked: BakedService, downstream: Mapping[str, str]
    ) -> RunningService:
        port = self._choose_port(baked)
        where = f"{LOOPBACK}:{port}" if port else "a free port"
        self._report(f"starting {baked.slug} on {where}")
        service = start_service(
            App.baked(baked, from_source=self.options.import_from_source),
            self.options.log_dir,
            env={**self.options.env, **downstream},
            port=port,
            workers=self.options.workers,
            prefix=self.options.command_prefix,
        )
        self.services.append(service)
        process = service.process
        self._report(
            f"{baked.slug} is up on {LOOPBACK}:{service.port} after "
            f"{service.ready_after:.1f} s (pid {process.pid}, log {process.log_path})"
        )
        tracing = service.tracing_line()
        if tracing is not None:
            self._report(f"{baked.slug} logged: {tracing}")
        return service

    def _choose_port(self, baked: BakedService) -> int | None:
        """The example's port when asked for and free; None: a free port."""
        if not self.options.use_example_ports or baked.port is None:
            return None
        if port_is_free(baked.port):
            return baked.port
        source = baked.config_file.name if baked.config_file else "its answers"
        self._report(
            f"port {baked.port} (from {source}) is taken; "
            f"{baked.slug} gets a free port instead"
        )
        return None

    def _stop_service(self, service: RunningService) -> list[str]:
        process = service.process
        pids = [process.pid, *process.descendant_pids()]
        exit_code = process.stop()
        problems = [
            f"{service.name}: pid {pid} still running after stop"
            for pid in pids
            if pid_is_alive(pid)
        ]
        if not wait_until_port_is_free(service.port, PORT_RELEASE_TIMEOUT):
            problems.append(f"{service.name}: port {service.port} still bound")
        self._report(
            f"stopped {service.name} (pid {process.pid}, {describe_exit(exit_code)}); "
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

"""The bounded wait for a service to be ready: its health check, or its port.

A generated service counts as up when its own log says uvicorn listens on its
port and ``GET /healthz`` answers 200; an app without a health check (the
benchmark's reference app) when its log says so and its port accepts a
connection, which uvicorn does once the app is built; another process (the
benchmark's receiver) when what the caller polls says so. The log line comes
first because a port picked free can be taken by another server before ours
binds it: that server would answer the health check while ours exits with
"address already in use". The wait gives up early when the process has
already exited (a failed import, a port in use), and its error carries the
tail of the process's log, which says why.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from service_harness.ports import LOOPBACK
from service_harness.processes import ManagedProcess

HEALTH_PATH = "/healthz"
DEFAULT_HEALTH_TIMEOUT = 30.0
POLL_SECONDS = 0.1
# What uvicorn logs once it has bound its socket, before it serves a request.
LISTENING_LINE = "Uvicorn running on http://{host}:{port} "
PORT_TAKEN = "address already in use"
REQUEST_TIMEOUT = 1.0
Ready = TypeVar("Ready")


class ServiceNotHealthy(RuntimeError):
    """A service never answered its health check; the message says why."""


def answers_health_check(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(
            base_url + HEALTH_PATH, timeout=REQUEST_TIMEOUT
        ) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=REQUEST_TIMEOUT):
            return True
    except OSError:
        return False


def wait_until_up(
    process: ManagedProcess,
    port: int,
    timeout: float = DEFAULT_HEALTH_TIMEOUT,
    health_check: bool = True,
) -> float:
    """Poll until uvicorn's log says it listens on ``port`` and the service
    answers ``/healthz`` with 200 (or, with ``health_check`` False, accepts a
    connection); return the seconds taken."""
    base_url = f"http://{LOOPBACK}:{port}"
    started = time.monotonic()
    if health_check:
        ready, what = (lambda: answers_health_check(base_url)), HEALTH_PATH
    else:
        ready, what = (lambda: accepts_connections(port)), "a connection"
    wait_until(
        process, lambda: says_it_listens(process, port) and ready(), what, timeout
    )
    return time.monotonic() - started


def says_it_listens(process: ManagedProcess, port: int) -> bool:
    """True once the process's log has uvicorn's line for ``port``: our process,
    not another one, holds it."""
    return LISTENING_LINE.format(host=LOOPBACK, port=port) in process.log_text()


def lost_its_port(process: ManagedProcess) -> bool:
    """True when the process ended because its port was taken."""
    return process.exit_code() is not None and PORT_TAKEN in process.log_text().lower()


def wait_until(
    process: ManagedProcess, ready: Callable[[], Ready], what: str, timeout: float
) -> Ready:
    """Poll ``ready()`` until its answer is truthy and return that answer.

    Raises :class:`ServiceNotHealthy` when the process exits first or after
    ``timeout`` seconds, with the log's last lines in the message.
    """
    deadline = time.monotonic() + timeout
    while not (answer := ready()):
        exit_code = process.exit_code()
        if exit_code is not None:
            raise ServiceNotHealthy(
                _failure(process, f"exited with code {exit_code} before it was up")
            )
        if time.monotonic() >= deadline:
            raise ServiceNotHealthy(
                _failure(process, f"did not answer {what} within {timeout} s")
            )
        time.sleep(POLL_SECONDS)
    return answer


def _failure(process: ManagedProcess, what: str) -> str:
    return (
        f"{process.name} {what}; last lines of {process.log_path}:\n"
        f"{process.log_tail()}"
    )

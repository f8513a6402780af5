"""The bounded wait for a service to answer its health check.

A service counts as up when ``GET /healthz`` answers 200. The wait gives up
early when the process has already exited (a failed import, a port in use),
and its error carries the tail of the service's log, which says why.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from pair_demo.processes import ManagedProcess

HEALTH_PATH = "/healthz"
DEFAULT_HEALTH_TIMEOUT = 30.0
POLL_SECONDS = 0.1
REQUEST_TIMEOUT = 1.0


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


def wait_until_healthy(
    process: ManagedProcess, base_url: str, timeout: float = DEFAULT_HEALTH_TIMEOUT
) -> float:
    """Poll ``base_url/healthz`` until it answers 200; return the seconds taken.

    Raises :class:`ServiceNotHealthy` when the process exits first or after
    ``timeout`` seconds, with the log's last lines in the message.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if answers_health_check(base_url):
            return time.monotonic() - started
        exit_code = process.exit_code()
        if exit_code is not None:
            raise ServiceNotHealthy(
                _failure(process, f"exited with code {exit_code} before it was up")
            )
        if time.monotonic() >= deadline:
            raise ServiceNotHealthy(
                _failure(process, f"did not answer {HEALTH_PATH} within {timeout} s")
            )
        time.sleep(POLL_SECONDS)


def _failure(process: ManagedProcess, what: str) -> str:
    return (
        f"{process.name} {what}; last lines of {process.log_path}:\n"
        f"{process.log_tail()}"
    )

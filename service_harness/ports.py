"""Loopback ports: pick one that is free, and check that one was released.

Everything here is on 127.0.0.1 only. A port is "free" when a listener could
bind it right now; the answer can go stale before the caller binds, so callers
that start a server on it must still report a failed bind clearly.
"""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"
RELEASE_POLL_SECONDS = 0.05


def free_port() -> int:
    """A port the OS considers free on 127.0.0.1 at this moment."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def refused_endpoint() -> str:
    """An http:// URL on a loopback port nothing listens on: a collector down."""
    return f"http://{LOOPBACK}:{free_port()}"


def port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:``port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # A restarting server sets SO_REUSEADDR, so connections of the previous
        # one lingering in TIME_WAIT do not count; a live listener still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
            probe.listen()
        except OSError:
            return False
        return True


def wait_until_port_is_free(port: int, timeout: float) -> bool:
    """Poll until the port can be bound again; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(RELEASE_POLL_SECONDS)
    return True

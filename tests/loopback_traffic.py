"""Traffic for the fault tests over loopback: bounded load, and a hung collector.

The services themselves run through service_harness; this sends them bounded
load from a few threads, and stands in for a collector that never answers.
"""

import http.client
import socket
import statistics
import threading
import time
from dataclasses import dataclass

REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True)
class Outcome:
    status: int | None
    seconds: float
    error: str = ""


def _worker(port: int, path: str, count: int, outcomes: list[Outcome]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        for _ in range(count):
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                outcomes.append(Outcome(response.status, time.perf_counter() - started))
            except (OSError, http.client.HTTPException) as error:
                outcomes.append(
                    Outcome(None, time.perf_counter() - started, type(error).__name__)
                )
                connection.close()
                connection = http.client.HTTPConnection(
                    "127.0.0.1", port, timeout=REQUEST_TIMEOUT
                )
    finally:
        connection.close()


def drive(port: int, path: str, total: int, concurrency: int = 1) -> list[Outcome]:
    """Send `total` GETs from `concurrency` keep-alive connections; bounded in time."""
    outcomes: list[Outcome] = []
    share, extra = divmod(total, concurrency)
    threads = [
        threading.Thread(
            target=_worker,
            args=(port, path, share + (1 if index < extra else 0), outcomes),
            daemon=True,
        )
        for index in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(total * REQUEST_TIMEOUT)
    return outcomes


def latency_summary(outcomes: list[Outcome]) -> str:
    seconds = sorted(outcome.seconds for outcome in outcomes)
    p50 = statistics.median(seconds)
    p99 = seconds[max(0, int(len(seconds) * 0.99) - 1)]
    return (
        f"{len(seconds)} requests, p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {seconds[-1] * 1000:.1f} ms"
    )


class SilentListener:
    """Accepts TCP connections on loopback and never answers: a hung collector."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self._accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)

    def __enter__(self) -> "SilentListener":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(5)
        for connection in self._accepted:
            connection.close()
        self._socket.close()

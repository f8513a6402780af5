"""Traffic for the fault tests over loopback: bounded load, a hung collector and a
stand-in downstream.

The services themselves run through service_harness; this sends them bounded
load from a few threads, stands in for a collector that never answers, and for
the service_b a service's client calls.
"""

import http.client
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


def drive_in_background(
    port: int, path: str, total: int, concurrency: int
) -> tuple[threading.Thread, list[Outcome]]:
    """`drive` on a started daemon thread; join it before reading the outcomes."""
    outcomes: list[Outcome] = []
    thread = threading.Thread(
        target=lambda: outcomes.extend(drive(port, path, total, concurrency)),
        daemon=True,
    )
    thread.start()
    return thread, outcomes


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


class StandInDownstream:
    """A loopback HTTP server in service_b's place: it records each call's headers
    and answers ``answer`` (status, body), or hangs while ``answer`` is None."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] | None = (200, b'{"ok": true}')
        self.received: list[dict[str, str]] = []
        self._release = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {name.lower(): v for name, v in self.headers.items()}
                stand_in.received.append(headers)
                answer = stand_in.answer
                if answer is None:
                    stand_in._release.wait(10)
                    return
                status, body = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "StandInDownstream":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

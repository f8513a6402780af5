"""Run a baked service as a real uvicorn process and drive it over loopback.

Used by the fault tests: start a service with a given environment, wait for its
health check, send it bounded load from a few threads, and stop it by PID.
"""

import contextlib
import http.client
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from baking import environment_without_tracing_variables
from pair_demo.health import wait_until_healthy
from pair_demo.ports import free_port
from pair_demo.processes import ManagedProcess

REQUEST_TIMEOUT = 5.0


@dataclass
class RunningService:
    process: ManagedProcess
    base_url: str
    port: int

    def log(self) -> str:
        return self.process.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def running_service(
    project_dir: Path, slug: str, env: dict[str, str], log_dir: Path, workers: int = 1
) -> Iterator[RunningService]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"{slug}.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    environment = {
        **environment_without_tracing_variables(),
        "PYTHONPATH": str(project_dir / "src"),
        **env,
    }
    log_path = log_dir / f"{slug}-{port}.log"
    process = ManagedProcess(slug, command, log_path, env=environment).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base_url, timeout=30)
        yield RunningService(process, base_url, port)
    finally:
        process.stop(timeout=10)


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


def refused_endpoint() -> str:
    """An http:// URL on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


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

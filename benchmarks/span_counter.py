"""Counts the spans that reach the collector, without slowing the count down.

The receiver runs as its own process (`python -m otlp_receiver`), pinned to the
load generator's core, never inside the benchmark or the service: decoding
every span costs CPU, and on the service's core it would be counted as the
cost of tracing. The receiver logs one line per export request with its span
count ("grpc export: 512 span(s), ..."), so counting is summing those lines
from its log file: no query into its memory, no extra decoding. A fresh
receiver per measured run keeps its memory (it stores every span) bounded.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.configurations import COLLECTOR_GRPC, COLLECTOR_HTTP, Configuration
from benchmarks.cpu_pinning import LOAD_CORE, pinned
from service_harness.environment import scrubbed_environment
from service_harness.processes import ManagedProcess
from service_harness.projects import TEMPLATE_DIR

START_TIMEOUT = 20.0
POLL_SECONDS = 0.05
_LISTENING = re.compile(r"otlp_receiver listening grpc=([\d.]+:\d+) http=([\d.]+:\d+)")
_EXPORT = re.compile(r"(?:grpc|http) export: (\d+) span\(s\)")


class SpanCounter:
    """A receiver process on loopback; `received()` sums the spans it logged."""

    def __init__(self, log_path: Path) -> None:
        command = pinned(
            LOAD_CORE,
            [
                sys.executable,
                "-m",
                "otlp_receiver",
                "--grpc-port",
                "0",
                "--http-port",
                "0",
            ],
        )
        self.process = ManagedProcess(
            "otlp_receiver",
            command,
            log_path,
            env=scrubbed_environment(),
            cwd=TEMPLATE_DIR,
        )
        self.grpc_endpoint = ""
        self.http_endpoint = ""

    def start(self) -> SpanCounter:
        self.process.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.process.log_text())
            if match:
                self.grpc_endpoint = f"http://{match.group(1)}"
                self.http_endpoint = f"http://{match.group(2)}"
                return self
            if self.process.exit_code() is not None:
                break
            time.sleep(POLL_SECONDS)
        self.process.stop()
        raise RuntimeError(
            f"the OTLP receiver did not start:\n{self.process.log_tail()}"
        )

    def received(self) -> int:
        return count_logged_spans(self.process.log_text())

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> SpanCounter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def counting_spans(
    configuration: Configuration, log_dir: Path
) -> Iterator[SpanCounter | None]:
    """A counter for a configuration that exports to a collector, else None."""
    if configuration.collector not in (COLLECTOR_GRPC, COLLECTOR_HTTP):
        yield None
        return
    with SpanCounter(log_dir / f"{configuration.name}-receiver.log") as counter:
        yield counter


def count_logged_spans(log_text: str) -> int:
    return sum(int(match.group(1)) for match in _EXPORT.finditer(log_text))

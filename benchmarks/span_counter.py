"""Counts the spans that reach the collector, without slowing the count down.

A fresh `python -m otlp_receiver` per measured run, pinned to the load core,
logs one line per export with its span count ("grpc export: 512 span(s),
..."); the count is the sum of those lines (docs/design-decisions.md says why).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.configurations import COLLECTOR_GRPC, COLLECTOR_HTTP, Configuration
from benchmarks.cpu_pinning import LOAD_CORE, pinned
from service_harness.environment import scrubbed_environment
from service_harness.health import wait_until
from service_harness.processes import ManagedProcess
from service_harness.projects import TEMPLATE_DIR

START_TIMEOUT = 20.0
_LISTENING = re.compile(r"otlp_receiver listening grpc=([\d.]+:\d+) http=([\d.]+:\d+)")
_EXPORT = re.compile(r"(?:grpc|http) export: (\d+) span\(s\)")


@dataclass(frozen=True)
class SpanCounter:
    """A running receiver's endpoints; `received()` sums the spans it logged."""

    process: ManagedProcess
    grpc_endpoint: str
    http_endpoint: str

    def received(self) -> int:
        log = self.process.log_text()
        return sum(int(match.group(1)) for match in _EXPORT.finditer(log))


@contextlib.contextmanager
def counting_spans(
    configuration: Configuration, log_dir: Path
) -> Iterator[SpanCounter | None]:
    """A receiver for a configuration that exports to a collector, else None."""
    if configuration.collector not in (COLLECTOR_GRPC, COLLECTOR_HTTP):
        yield None
        return
    # Port 0: the receiver picks free ports and names them in its first line.
    receiver = ["otlp_receiver", "--grpc-port", "0", "--http-port", "0"]
    process = ManagedProcess(
        "otlp_receiver",
        pinned(LOAD_CORE, [sys.executable, "-m", *receiver]),
        log_dir / f"{configuration.name}-receiver.log",
        env=scrubbed_environment(),
        cwd=TEMPLATE_DIR,
    ).start()
    try:
        listening = wait_until(
            process,
            lambda: _LISTENING.search(process.log_text()),
            "with its listening line",
            START_TIMEOUT,
        )
        grpc, http = listening.groups()
        yield SpanCounter(process, f"http://{grpc}", f"http://{http}")
    finally:
        process.stop()

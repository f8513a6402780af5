"""Which core each process runs on: the service on one, the load on another.

With `taskset` and at least two cores the service (and everything in it: the
event loop, the span processor's worker, gRPC's threads) shares core 0, and
the load generator and the OTLP receiver share core 1, so the service's
throughput is what one core of it can do. Elsewhere nothing is pinned and the
report says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from service_harness.projects import TEMPLATE_DIR

SERVICE_CORE = 0
LOAD_CORE = 1


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(core: int, command: Sequence[str]) -> list[str]:
    """`command` run on `core` alone when pinning is possible, else unchanged."""
    if not can_pin():
        return list(command)
    return ["taskset", "-c", str(core), *command]


def describe_pinning() -> str:
    if can_pin():
        return (
            f"service pinned to core {SERVICE_CORE}; load generator and OTLP "
            f"receiver to core {LOAD_CORE} (taskset)"
        )
    return "not pinned (taskset missing or a single core)"


def run_pinned(core: int, command: Sequence[str], timeout: float) -> str:
    """Run `command` on `core` from the repository's root (where `python -m
    benchmarks.load_python` imports from); its output, or an error."""
    completed = subprocess.run(
        pinned(core, command),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=TEMPLATE_DIR,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{command[0]} failed with code {completed.returncode}: "
            f"{completed.stderr.strip()[-2000:]}"
        )
    return completed.stdout

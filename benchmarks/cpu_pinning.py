"""Which core each process runs on: the service on one, the load on another.

With `taskset` and at least two cores the service (and everything in it: the
event loop, the span processor's worker, gRPC's threads) shares core 0, and
the load generator and the OTLP receiver share core 1, so the service's
throughput is what one core of it can do. Elsewhere nothing is pinned and the
report says so. The Python load client runs as `python -m
benchmarks.load_python` on the load core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVICE_CORE = 0
LOAD_CORE = 1
# Where `python -m benchmarks.<module>` imports from.
REPO_ROOT = Path(__file__).resolve().parent.parent


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
    """Run `command` on `core` from the repository's root; its output, or an error."""
    completed = subprocess.run(
        pinned(core, command),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{command[0]} failed with code {completed.returncode}: "
            f"{completed.stderr.strip()[-2000:]}"
        )
    return completed.stdout


def run_pinned_module(
    core: int, module: str, arguments: Sequence[str], timeout: float
) -> Any:
    """`python -m module arguments` on `core`; the JSON of its last output line."""
    output = run_pinned(core, [sys.executable, "-m", module, *arguments], timeout)
    return json.loads(output.strip().splitlines()[-1])

"""How long the template's own test suite takes: `make test`'s pytest run, timed.

It runs in a child process from the repository's root with the interpreter
running the benchmark (the same virtual environment `make test` uses), and
writes `results/test-suite.md`: the wall time, pytest's summary line and the
machine. Like the rest of the benchmark it reports; a failing suite is written
down as such, and the exit code says so.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from service_harness.projects import TEMPLATE_DIR

# Far above the suite's few minutes; a hung suite must not hang the benchmark.
TIMEOUT_SECONDS = 30 * 60
SUMMARY = re.compile(r"^=+ (.*\b(passed|failed|error|errors|skipped)\b.*) =+$")


@dataclass(frozen=True)
class SuiteTiming:
    started: datetime
    seconds: float
    summary: str
    returncode: int


def time_test_suite(repo_root: Path = TEMPLATE_DIR) -> SuiteTiming:
    started = datetime.now(timezone.utc)
    began = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=repo_root,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    seconds = time.monotonic() - began
    return SuiteTiming(
        started, seconds, summary_line(completed.stdout), completed.returncode
    )


def summary_line(output: str) -> str:
    """pytest's last `=== N passed in Xs ===` line, or a note that there was none."""
    for line in reversed(output.splitlines()):
        match = SUMMARY.match(line.strip())
        if match:
            return match.group(1)
    return "no pytest summary line in the output"


def render_suite_timing(timing: SuiteTiming, machine: str) -> str:
    minutes, seconds = divmod(round(timing.seconds), 60)
    outcome = "passed" if timing.returncode == 0 else f"exit {timing.returncode}"
    return "\n".join(
        [
            "# The template's test suite: latest timing",
            "",
            f"Run {timing.started:%Y-%m-%d %H:%M} UTC by `python -m benchmarks`: "
            "the same `python -m pytest` as `make test`, from the repository's "
            "root.",
            "",
            f"- Wall time: {minutes} min {seconds:02d} s ({outcome}).",
            f"- pytest: {timing.summary}.",
            f"- Machine: {machine}.",
            "",
        ]
    )

"""Makes the load, pinned to the load core: wrk when it is installed, the
Python client (`load_python`) otherwise; and what a run of either returns.

wrk runs with one thread, a fixed number of connections and `--latency`, which
prints the 50th to 99th percentiles of its latency histogram; its output is
parsed here. The Python client prints its figures as one JSON line.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass

from benchmarks.cpu_pinning import LOAD_CORE, run_pinned

WRK = "wrk"
PYTHON = "python"
# wrk's own per-request timeout; a request slower than this counts as an error.
REQUEST_TIMEOUT = "5s"
# How long a run may take beyond its duration before it counts as hung.
GRACE_SECONDS = 20.0
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.M)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    # Non-2xx answers, connection errors and timeouts together.
    errors: int = 0


def default_tool() -> str:
    return WRK if shutil.which("wrk") is not None else PYTHON


def run_load(tool: str, url: str, seconds: float, connections: int) -> LoadResult:
    if tool == WRK:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        command += [f"--timeout={REQUEST_TIMEOUT}", "--latency", url]
        return parse_wrk_output(run_pinned(LOAD_CORE, command, seconds + GRACE_SECONDS))
    command = [sys.executable, "-m", "benchmarks.load_python", url]
    command += ["--seconds", str(seconds), "--connections", str(connections)]
    output = run_pinned(LOAD_CORE, command, seconds + GRACE_SECONDS)
    return LoadResult(**json.loads(output.strip().splitlines()[-1]))


def parse_wrk_output(text: str) -> LoadResult:
    """The figures of one `wrk --latency` run; ValueError if a line is missing."""
    requests = _REQUESTS.search(text)
    rate = _RATE.search(text)
    percentiles = {
        match.group(1): float(match.group(2)) * _UNITS_MS[match.group(3)]
        for match in _PERCENTILE.finditer(text)
    }
    if requests is None or rate is None or set(percentiles) != {"50", "99"}:
        raise ValueError(f"unexpected wrk output:\n{text}")
    errors = 0
    if non_2xx := _NON_2XX.search(text):
        errors += int(non_2xx.group(1))
    if socket_errors := _SOCKET_ERRORS.search(text):
        errors += sum(int(count) for count in socket_errors.groups())
    return LoadResult(
        requests=int(requests.group(1)),
        seconds=float(requests.group(2)) * _UNITS_MS[requests.group(3)] / 1000,
        requests_per_second=float(rate.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        errors=errors,
    )

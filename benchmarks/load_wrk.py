"""Load from wrk: one thread, a fixed number of connections, `--latency` output.

wrk prints requests per second, the count of completed requests and, with
`--latency`, the 50th to 99th percentiles of its latency histogram; this
module runs it with a bounded timeout and parses those lines.
"""

from __future__ import annotations

import re
import shutil

from benchmarks.cpu_pinning import LOAD_CORE, run_pinned
from benchmarks.load_result import LoadResult

CONNECTIONS = 16
# wrk's own per-request timeout; a request slower than this counts as an error.
REQUEST_TIMEOUT = "5s"
GRACE_SECONDS = 20.0
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.M)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, seconds: float, connections: int = CONNECTIONS) -> LoadResult:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    command += [f"--timeout={REQUEST_TIMEOUT}", "--latency", url]
    return parse_wrk_output(run_pinned(LOAD_CORE, command, seconds + GRACE_SECONDS))


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
        tool="wrk",
        requests=int(requests.group(1)),
        seconds=float(requests.group(2)) * _UNITS_MS[requests.group(3)] / 1000,
        requests_per_second=float(rate.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        errors=errors,
    )

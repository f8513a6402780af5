"""Picks the load generator: wrk when it is installed, the Python client otherwise."""

from __future__ import annotations

from benchmarks.load_python import run_python_load
from benchmarks.load_result import LoadResult
from benchmarks.load_wrk import run_wrk, wrk_available

WRK = "wrk"
PYTHON = "python"


def default_tool() -> str:
    return WRK if wrk_available() else PYTHON


def run_load(tool: str, url: str, seconds: float, connections: int) -> LoadResult:
    if tool == WRK:
        return run_wrk(url, seconds, connections)
    return run_python_load(url, seconds, connections)

"""Owns the pytest plugin that ties tests to the functions their subprocesses ran.

Loaded into mutmut's pytest runs (`-p mutation.subprocess_hits`). During the
stats run, before mutmut files the functions a test ran under that test, the
names `subprocess_site.py` wrote from the test's subprocesses join them; so a
test that only drives a real `python -m <package>` is run against the mutants of
the code that process ran. Outside the stats run it does nothing.
"""

import os
from pathlib import Path

import pytest

from mutation.subprocess_site import HITS_VARIABLE


def hits_file() -> Path | None:
    path = os.environ.get(HITS_VARIABLE)
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or not path:
        return None
    return Path(path)


def take_hits(path: Path) -> set[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return set()
    path.unlink()
    return set(text.split())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart() -> None:
    if path := hits_file():
        take_hits(path)  # what a previous test's subprocesses wrote after it ended


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown() -> None:
    if path := hits_file():
        from mutmut.state import state

        state()._stats.update(take_hits(path))

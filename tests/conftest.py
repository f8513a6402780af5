"""Shared by the template's tests: the figures that tests measure, shown at the end,
and the output of the services a failing test ran (service_output.py).

A test that measures something (latency with the collector down, shutdown time)
records it with the `figures` fixture; the figures are printed in a section of
the terminal summary, so every run of the suite reports them, passing or not.
"""

import pytest
from service_output import pytest_runtest_makereport, pytest_runtest_setup

__all__ = ["pytest_runtest_makereport", "pytest_runtest_setup"]
# tests/test_service_output.py runs a failing test of its own.
pytest_plugins = ["pytester"]

_FIGURES: list[str] = []


@pytest.fixture
def figures(request):
    def record(text: str) -> None:
        _FIGURES.append(f"{request.node.name}: {text}")

    return record


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)

"""Shared by the template's tests: the figures that tests measure, shown at the end.

A test that measures something (latency with the collector down, shutdown time)
records it with the `figures` fixture; the figures are printed in a section of
the terminal summary, so every run of the suite reports them, passing or not.
"""

import pytest

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

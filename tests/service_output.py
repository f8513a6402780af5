"""A failing test's report shows the output of every service process it ran.

The harness records each process it starts (``ManagedProcess.started``). When a
test fails, its report gets one section per process started since the test's
setup began, and per process still running (a module fixture's service), with
the last lines of that process's log: the service's own account of the failure.
"""

import pytest

from service_harness.processes import ManagedProcess

OUTPUT_LINES = 60
FIRST_PROCESS = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[FIRST_PROCESS] = len(ManagedProcess.started)


def processes_of(item: pytest.Item) -> list[ManagedProcess]:
    first = item.stash.get(FIRST_PROCESS, len(ManagedProcess.started))
    earlier = ManagedProcess.started[:first]
    running = [process for process in earlier if process.exit_code() is None]
    return running + ManagedProcess.started[first:]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        for process in processes_of(item):
            report.sections.append(
                (
                    f"output of {process.name} (pid {process.pid}, {process.log_path})",
                    process.log_tail(OUTPUT_LINES),
                )
            )
    return report

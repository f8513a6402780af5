"""A failing test's report carries the output of the service processes it ran."""

PASSING_AND_FAILING = """
import sys

from service_harness.processes import ManagedProcess


def run(tmp_path, words):
    process = ManagedProcess(
        "stand_in", [sys.executable, "-c", f"print({words!r})"], tmp_path / "out.log"
    ).start()
    process.stop(timeout=5)
    return process


def test_fails_after_its_service_spoke(tmp_path):
    run(tmp_path, "the failing test's service said this")
    assert False


def test_passes_after_its_service_spoke(tmp_path):
    run(tmp_path, "the passing test's service said this")
"""


def test_a_failing_test_shows_its_service_output_and_a_passing_one_does_not(
    pytester,
):
    pytester.makepyfile(test_inner=PASSING_AND_FAILING)

    result = pytester.runpytest_inprocess("-p", "service_output", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "output of stand_in (pid " in output
    assert "the failing test's service said this" in output
    assert "the passing test's service said this" not in output

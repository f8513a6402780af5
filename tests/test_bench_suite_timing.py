"""The test-suite timing's parsing of pytest's output and its one-page report."""

from datetime import datetime, timezone

from benchmarks.suite_timing import SuiteTiming, render_suite_timing, summary_line

OUTPUT = """\
tests/test_generation.py ........                                        [ 40%]
tests/test_hooks.py ....                                                 [100%]
=================== measured figures ===================
one bake: 0.21 s
================ 336 passed, 1 skipped in 279.95s (0:04:39) =================
"""


def test_the_summary_is_pytests_last_counts_line():
    assert summary_line(OUTPUT) == "336 passed, 1 skipped in 279.95s (0:04:39)"


def test_a_run_without_a_summary_says_so():
    assert summary_line("ImportError: no module\n") == (
        "no pytest summary line in the output"
    )


def test_the_report_gives_minutes_seconds_and_the_outcome():
    started = datetime(2026, 11, 26, 10, 30, tzinfo=timezone.utc)
    passed = SuiteTiming(started, 279.6, "336 passed in 279.60s", 0)
    failed = SuiteTiming(started, 61.0, "1 failed, 335 passed in 61.00s", 1)

    assert "- Wall time: 4 min 40 s (passed)." in render_suite_timing(passed, "m")
    assert "- Wall time: 1 min 01 s (exit 1)." in render_suite_timing(failed, "m")
    assert "- pytest: 1 failed, 335 passed in 61.00s." in render_suite_timing(
        failed, "m"
    )

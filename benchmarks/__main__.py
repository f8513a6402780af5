"""`python -m benchmarks` (`make bench`): measure, then write the report and the chart.

With no options it runs the main suite the way `make bench` does: waits (up
to 10 minutes) for a calm machine, three repetitions of every configuration
on both endpoints, the 60 s outage run and five timed bakes, and writes
latest.md and latest.png in benchmarks/results. Options shrink it (the smoke
test runs two configurations for a second each) or pick the experiments
suite, the candidates for cheaper defaults.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bake_timing import time_bakes
from benchmarks.chart import draw_chart
from benchmarks.configurations import EXAMPLE, PAIR, ROOT, SUITES, by_name
from benchmarks.cpu_pinning import describe_pinning
from benchmarks.load import PYTHON, WRK, default_tool
from benchmarks.machine import describe_machine, load_average, wait_for_calm
from benchmarks.outage_memory import OutageMemory, measure_outage_memory
from benchmarks.report import RunContext, render, results_table
from benchmarks.runner import Plan, run_plan
from benchmarks.services import bake_projects
from benchmarks.summary import Row, summarize

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the cost of tracing in the generated service.",
    )
    parser.add_argument("--suite", choices=sorted(SUITES), default="main")
    parser.add_argument(
        "--configurations",
        help="comma-separated subset of the suite (their baselines are added)",
    )
    parser.add_argument(
        "--endpoints", nargs="+", choices=(ROOT, EXAMPLE), default=[ROOT, EXAMPLE]
    )
    parser.add_argument(
        "--repetitions",
        type=int,
        default=3,
        help="0 measures nothing but the outage run and bakes asked for",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--load", choices=(WRK, PYTHON), default=None, help="default: wrk if installed"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--wait-for-calm",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait up to this long for a 1-minute load average below 0.5 (0: no wait)",
    )
    parser.add_argument(
        "--outage-seconds", type=float, default=60.0, help="0 skips the outage run"
    )
    parser.add_argument("--bakes", type=int, default=5, help="0 skips bake timing")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument(
        "--keep-work-dir", action="store_true", help="keep the baked projects and logs"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    arguments = parse_arguments(argv)
    suite = SUITES[arguments.suite]
    configurations = (
        by_name(arguments.configurations.split(","), suite)
        if arguments.configurations
        else list(suite)
    )
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    plan = Plan(
        configurations=configurations,
        endpoints=tuple(arguments.endpoints),
        repetitions=arguments.repetitions,
        seconds=arguments.seconds,
        warmup_seconds=arguments.warmup,
        load_tool=arguments.load or default_tool(),
        connections=arguments.connections,
        work_dir=work_dir,
    )
    try:
        load_before = wait_for_calm(arguments.wait_for_calm)
        started = datetime.now(UTC)
        print(f"benchmark: load average {load_before:.2f}; work dir {work_dir}")
        projects = bake_projects(
            work_dir, with_pair=any(c.kind == PAIR for c in configurations)
        )
        bakes = time_bakes(work_dir / "bakes", arguments.bakes)
        rows = summarize(run_plan(plan, projects))
        outage: OutageMemory | None = None
        if arguments.outage_seconds > 0:
            print(f"benchmark: outage run, {arguments.outage_seconds:g} s")
            outage = measure_outage_memory(projects, plan, arguments.outage_seconds)
        if rows:
            context = RunContext(
                command=shlex.join(["python", "-m", "benchmarks", *argv]),
                plan=plan,
                started=started,
                finished=datetime.now(UTC),
                load_before=load_before,
                load_after=load_average(),
                machine=describe_machine(),
                pinning=describe_pinning(),
            )
            write_results(
                arguments, rows, render(rows, context, outage, bakes), context
            )
    except BaseException:
        print(f"benchmark: failed; logs kept in {work_dir}", file=sys.stderr)
        raise
    else:
        if not arguments.keep_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def write_results(
    arguments: argparse.Namespace, rows: list[Row], report: str, context: RunContext
) -> None:
    """The report and, with matplotlib, the chart: `latest.md` and `latest.png`
    for the main suite, else named after the suite."""
    name = "latest" if arguments.suite == "main" else arguments.suite
    report_path = arguments.output / f"{name}.md"
    arguments.output.mkdir(parents=True, exist_ok=True)
    report_path.write_text(report, encoding="utf-8")
    print(results_table(rows))
    print(f"benchmark: wrote {report_path}")
    if not arguments.no_chart and importlib.util.find_spec("matplotlib"):
        chart = draw_chart(
            rows,
            arguments.output / f"{name}.png",
            f"Cost of tracing, {context.started:%Y-%m-%d} ({context.machine.cores} "
            f"cores, {context.plan.load_tool}, {context.machine.uvicorn_stack})",
        )
        print(f"benchmark: wrote {chart}")


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every service and receiver is stopped."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    exit_on_sigterm()
    sys.exit(main())

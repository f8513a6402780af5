"""`python -m mutation` (`make mutation`): how well the generated suite pins its code.

Bakes service_a (examples/service_a.yaml) into a scratch directory, runs mutmut
3 on its `src/` against its own tests, then mutates the constants outside
functions one at a time, and writes the report to stdout and to
mutation/results/latest.md (partial.md when --modules restricts the run).
"""

import argparse
import importlib.metadata
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from mutation import constants, mutmut_run
from mutation.baked_service import bake, select_modules
from mutation.recheck import recheck
from mutation.report import RunContext, render

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mutation",
        description="Mutation testing of a baked service_a against its own suite.",
    )
    parser.add_argument(
        "--modules",
        default="",
        help="modules of the package to mutate, space- or comma-separated, as "
        "dotted names inside it ('redaction routes'); default: all",
    )
    parser.add_argument(
        "--max-children",
        type=int,
        default=2,
        help="mutants tested side by side (mutmut's option, and constant workers)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="report file (default: results/latest.md, or results/partial.md "
        "for a --modules run)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the bake, to run `mutmut show` or `mutmut browse` in it",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    names = arguments.modules.replace(",", " ").split()
    output = arguments.output or RESULTS_DIR / ("partial.md" if names else "latest.md")
    started, clock = datetime.now().isoformat(" ", "minutes"), time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        print(f"==> baking service_a into {work_dir}", flush=True)
        service = bake(work_dir)
        modules = select_modules(service, names)
        print(f"==> mutmut on {', '.join(modules)}", flush=True)
        mutmut_run.configure(service, list(modules.values()) if names else None)
        mutmut_run.run(service, arguments.max_children)
        mutants = mutmut_run.results(service)
        survivors = sum(m.status == "survived" and not m.message_only for m in mutants)
        print(f"\n==> {survivors} mutmut survivors, the whole suite each", flush=True)
        mutants = recheck(service, mutants, work_dir, arguments.max_children)
        found = constants.constant_mutants(modules, service.root)
        print(f"\n==> {len(found)} constant mutants, the whole suite each", flush=True)
        mutants += constants.run_constant_mutants(
            service, found, work_dir, arguments.max_children
        )
    finally:
        if arguments.keep:
            print(f"==> kept the bake: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    context = RunContext(
        service=service.package,
        modules=list(modules),
        restricted=bool(names),
        mutmut_version=importlib.metadata.version("mutmut"),
        started=started,
        minutes=(time.monotonic() - clock) / 60,
        max_children=arguments.max_children,
    )
    report = render(mutants, context)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    print(f"\n{report}\n==> written to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

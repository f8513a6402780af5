"""Owns the mutants mutmut 3 never makes: literals outside functions.

mutmut 3 mutates function bodies only, so `BATCH_SIZE = 32`, a tuple of
attribute names or a settings class's defaults never change under it. Here each
number or string literal in an assignment at module level, or directly in the
body of a module-level class, makes its own mutants: a number n becomes n + 1
and 0, a string s becomes "XX" + s + "XX". Dunder names (`__version__`) are
left alone. One mutant at a time is written into a copy of the project and the
whole suite runs on it with `pytest -x`: a failure or a timeout kills it.
Constants are never message-only.
"""

import ast
import copy
import dataclasses
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from mutation.baked_service import BakedService
from mutation.mutant import Mutant
from service_harness.environment import scrubbed_environment

Assignment = ast.Assign | ast.AnnAssign


@dataclasses.dataclass(frozen=True)
class ConstantMutant:
    module: str
    path: Path  # from the project root
    target: str
    original: str  # the literal, before and after
    mutated: str
    mutated_source: str


def constant_mutants(modules: dict[str, Path], root: Path) -> list[ConstantMutant]:
    return [
        mutant
        for module, path in modules.items()
        for mutant in module_constant_mutants(module, path, (root / path).read_text())
    ]


def module_constant_mutants(
    module: str, path: Path, source: str
) -> Iterator[ConstantMutant]:
    lines = source.splitlines()
    for statement, owner in assignments(ast.parse(source)):
        indent = " " * statement.col_offset
        for index, literal in enumerate(literals(statement)):
            for replacement in replacements(literal.value):
                mutated = copy.deepcopy(statement)
                literals(mutated)[index].value = replacement
                new_lines = [indent + line for line in ast.unparse(mutated).split("\n")]
                yield ConstantMutant(
                    module=module,
                    path=path,
                    target=f"{owner}{target_name(statement)}",
                    original=repr(literal.value),
                    mutated=repr(replacement),
                    mutated_source="\n".join(
                        lines[: statement.lineno - 1]
                        + new_lines
                        + lines[statement.end_lineno :]
                    )
                    + "\n",
                )


def assignments(module: ast.Module) -> Iterator[tuple[Assignment, str]]:
    """(assignment, "Class." or "") outside functions."""
    for statement in module.body:
        if isinstance(statement, ast.ClassDef):
            for inner in statement.body:
                if is_mutable_assignment(inner):
                    yield inner, f"{statement.name}."
        elif is_mutable_assignment(statement):
            yield statement, ""


def is_mutable_assignment(statement: ast.stmt) -> bool:
    if not isinstance(statement, Assignment) or statement.value is None:
        return False
    name = target_name(statement)
    return not (name.startswith("__") and name.endswith("__"))


def target_name(statement: Assignment) -> str:
    if isinstance(statement, ast.Assign):
        return ast.unparse(statement.targets[0])
    return ast.unparse(statement.target)


def literals(statement: Assignment) -> list[ast.Constant]:
    """The value's numbers and strings, in a fixed order; no bools, no lambdas."""
    found, pending = [], [statement.value]
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float, str):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def replacements(value: object) -> list[object]:
    if isinstance(value, str):
        return [f"XX{value}XX"]
    return [value + 1] + ([0] if value != 0 else [])


def run_constant_mutants(
    service: BakedService,
    mutants: list[ConstantMutant],
    work_dir: Path,
    workers: int,
) -> list[Mutant]:
    """Run every constant mutant against the whole suite, printing each outcome."""
    records = [
        Mutant(
            module=mutant.module,
            function=f"constant {mutant.target}",
            name=f"{mutant.module}:{mutant.target}",
            original=mutant.original,
            mutated=mutant.mutated,
            status="",
            message_only=False,
        )
        for mutant in mutants
    ]
    sources = [(mutant.path, mutant.mutated_source) for mutant in mutants]
    statuses = run_sources(service, sources, work_dir, workers, records)
    return [
        dataclasses.replace(record, status=status)
        for record, status in zip(records, statuses, strict=True)
    ]


def run_sources(
    service: BakedService,
    sources: list[tuple[Path, str]],
    work_dir: Path,
    workers: int,
    records: list[Mutant],
) -> list[str]:
    """Each (path from the project root, mutated source) written into one of
    `workers` copies of the project, the whole suite run on it: the statuses, in
    order. `records` name each one in the progress lines."""
    copies: queue.Queue[Path] = queue.Queue()
    for number in range(workers):
        project_copy = work_dir / f"whole-suite-{number}"
        if not project_copy.exists():
            skipped = shutil.ignore_patterns("mutants", "__pycache__", ".pytest_cache")
            shutil.copytree(service.root, project_copy, ignore=skipped)
        copies.put(project_copy)
    clean_copy = copies.get()
    started = time.monotonic()
    if run_suite(clean_copy, timeout=600) != "survived":
        raise SystemExit(f"the suite fails on an unmutated copy: {clean_copy}")
    copies.put(clean_copy)
    # A surviving mutant runs the whole suite, and two suites share the machine.
    timeout = max(60.0, 4 * (time.monotonic() - started))
    print(
        f"    clean suite: {time.monotonic() - started:.0f} s; timeout {timeout:.0f} s"
    )

    def run_one(index: int) -> tuple[int, str]:
        path, mutated_source = sources[index]
        project_copy = copies.get()
        target = project_copy / path
        original_source = target.read_text()
        try:
            target.write_text(mutated_source)
            return index, run_suite(project_copy, timeout)
        finally:
            target.write_text(original_source)
            copies.put(project_copy)

    statuses = [""] * len(sources)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, index) for index in range(len(sources))]
        for done, future in enumerate(as_completed(futures), start=1):
            index, statuses[index] = future.result()
            record = records[index]
            print(
                f"    [{done}/{len(sources)}] {statuses[index]:8} "
                f"{record.module}: {record.function} "
                f"{record.original[:40]} → {record.mutated[:40]}",
                flush=True,
            )
    return statuses


def run_suite(project: Path, timeout: float) -> str:
    # A stale .pyc of the unmutated module must never stand in for the mutant
    # (same size, same second): compile from source every time.
    environment = scrubbed_environment(
        {"PYTHONDONTWRITEBYTECODE": "1"}, drop=("MUTANT_",)
    )
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    process = subprocess.Popen(
        command,
        cwd=project,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a timeout ends the services the tests started too
    )
    try:
        exit_code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout"
    return "survived" if exit_code == 0 else "killed"

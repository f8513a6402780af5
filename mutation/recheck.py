"""Owns the second look at mutmut's survivors: each applied to the source, the
whole suite run on it.

mutmut switches a mutant on inside a test process forked after the package was
imported, so code that runs at import (a helper that builds a settings class's
fields) never meets its mutant. Applied to the source with `mutmut apply`, a
survivor meets every test as a real change would: one the suite then fails is
killed; one it still passes is a survivor.
"""

import ast
import dataclasses
import difflib
import subprocess
import sys
from pathlib import Path

from mutation.baked_service import BakedService
from mutation.constants import run_sources
from mutation.mutant import Mutant


def recheck(
    service: BakedService, mutants: list[Mutant], work_dir: Path, workers: int
) -> list[Mutant]:
    """`mutants` with each non-message survivor re-run against the whole suite."""
    survivors = [m for m in mutants if m.status == "survived" and not m.message_only]
    sources = [mutated_source(service, mutant) for mutant in survivors]
    statuses = run_sources(service, sources, work_dir, workers, survivors)
    rechecked = {
        mutant.name: dataclasses.replace(mutant, status=status)
        for mutant, status in zip(survivors, statuses, strict=True)
    }
    return [rechecked.get(mutant.name, mutant) for mutant in mutants]


def mutated_source(service: BakedService, mutant: Mutant) -> tuple[Path, str]:
    """(path from the project root, its source with `mutant` applied); the bake's
    own file is restored. Where mutmut would change another function, the
    source is left as it is, so the mutant stays a survivor."""
    path = service.modules()[mutant.module]
    original = (service.root / path).read_text()
    try:
        subprocess.run(
            [sys.executable, "-m", "mutmut", "apply", mutant.name],
            cwd=service.root,
            check=True,
            capture_output=True,
        )
        applied = (service.root / path).read_text()
    finally:
        (service.root / path).write_text(original)
    # mutmut 3.8's apply takes the first function of the name in the module:
    # for JsonFormatter.format it rewrites TextFormatter.format.
    if not changes_only(original, applied, mutant.function):
        return path, original
    return path, applied


def changes_only(original: str, applied: str, function: str) -> bool:
    """True when every line that differs lies inside `function` ("name" or
    "Class.name") of the original source."""
    *owner, name = function.split(".")
    scope: list[ast.stmt] = ast.parse(original).body
    for class_name in owner:
        scope = next(
            node.body
            for node in scope
            if isinstance(node, ast.ClassDef) and node.name == class_name
        )
    target = next(
        node
        for node in scope
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name == name
    )
    inside = range(target.lineno, target.end_lineno + 1)
    matcher = difflib.SequenceMatcher(
        a=original.splitlines(), b=applied.splitlines(), autojunk=False
    )
    changed = [
        line + 1
        for tag, start, end, _, _ in matcher.get_opcodes()
        if tag != "equal"
        for line in range(start, max(end, start + 1))
    ]
    return bool(changed) and all(line in inside for line in changed)

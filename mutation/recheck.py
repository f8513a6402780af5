"""Owns the second look at mutmut's survivors: each applied to the source, the
whole suite run on it.

mutmut switches a mutant on inside a test process forked after the package was
imported, so code that runs at import (a helper that builds a settings class's
fields) never meets its mutant. Applied to the source with `mutmut apply`, a
survivor meets every test as a real change would: one the suite then fails is
killed; one it still passes is a survivor.
"""

import dataclasses
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
    own file is restored."""
    path = service.modules()[mutant.module]
    original = (service.root / path).read_text()
    try:
        subprocess.run(
            [sys.executable, "-m", "mutmut", "apply", mutant.name],
            cwd=service.root,
            check=True,
            capture_output=True,
        )
        return path, (service.root / path).read_text()
    finally:
        (service.root / path).write_text(original)

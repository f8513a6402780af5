"""How long generating one project takes, through cookiecutter's Python API."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from service_harness.projects import bake

BAKES = 5


@dataclass(frozen=True)
class BakeTiming:
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_bakes(work_dir: Path, bakes: int = BAKES) -> BakeTiming:
    """Bake the template `bakes` times into fresh directories; time each bake."""
    seconds = []
    for number in range(bakes):
        started = time.perf_counter()
        bake(work_dir / f"bake-{number}")
        seconds.append(time.perf_counter() - started)
    return BakeTiming(tuple(seconds))

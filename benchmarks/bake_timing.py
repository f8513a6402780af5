"""How long generating one project takes, through cookiecutter's Python API."""

from __future__ import annotations

import time
from pathlib import Path

from service_harness.projects import bake


def time_bakes(work_dir: Path, bakes: int) -> list[float]:
    """Bake the template `bakes` times into fresh directories; each bake's seconds."""
    seconds = []
    for number in range(bakes):
        started = time.perf_counter()
        bake(work_dir / f"bake-{number}")
        seconds.append(time.perf_counter() - started)
    return seconds

"""The dedicated outage run: memory while the collector is down under full load.

The batch processor's queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE, 2048 spans),
so a service whose collector is gone should plateau, not grow. One service
exports to a closed port while the load generator keeps it busy for the whole
window; its resident memory is sampled every few seconds from /proc.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from benchmarks.configurations import BATCH_DOWN, ROOT
from benchmarks.load import run_load
from benchmarks.process_stats import rss_mib
from benchmarks.runner import Plan
from benchmarks.services import BakedProjects, running_target

SAMPLE_SECONDS = 5.0
WARMUP_SECONDS = 5.0


@dataclass(frozen=True)
class OutageMemory:
    configuration: str
    path: str
    seconds: float
    requests_per_second: float
    rss_start_mib: float
    rss_end_mib: float
    rss_max_mib: float
    samples_mib: tuple[float, ...]

    @property
    def growth_mib(self) -> float:
        return self.rss_max_mib - self.rss_start_mib


def measure_outage_memory(
    projects: BakedProjects, plan: Plan, seconds: float
) -> OutageMemory:
    """Warm up, note RSS, load for `seconds` while sampling RSS; return the figures."""
    log_dir = plan.work_dir / "logs" / "outage"
    with running_target(BATCH_DOWN, projects, None, log_dir) as target:
        url = target.url(ROOT)
        run_load(plan.load_tool, url, WARMUP_SECONDS, plan.connections)
        start = rss_mib(target.pids)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(SAMPLE_SECONDS):
                samples.append(rss_mib(target.pids))

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        try:
            load = run_load(plan.load_tool, url, seconds, plan.connections)
        finally:
            done.set()
            sampler.join(SAMPLE_SECONDS * 2)
        end = rss_mib(target.pids)
    return OutageMemory(
        configuration=BATCH_DOWN.label,
        path=target.paths[ROOT],
        seconds=load.seconds,
        requests_per_second=load.requests_per_second,
        rss_start_mib=start,
        rss_end_mib=end,
        rss_max_mib=max([start, end, *samples]),
        samples_mib=tuple(samples),
    )

"""The run order and one measured run: start, warm up, measure, stop, count.

Every traced run sits between two runs of its untraced baseline (U A U B U),
so its ratio cancels the machine's drift (docs/design-decisions.md). Each
measured run gets a fresh service process (its peak RSS is its own) and, when
it exports, a fresh receiver, whose count is read once the service stopped
(which flushes its queue).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.configurations import Configuration
from benchmarks.cpu_pinning import SERVICE_CORE
from benchmarks.load import LoadResult, run_load
from benchmarks.process_stats import core_busy_seconds, peak_rss_mib, total_cpu_seconds
from benchmarks.services import BakedProjects, running_target
from benchmarks.span_counter import SpanCounter, counting_spans

# After the service stopped, its last export has been answered; this only
# covers the receiver writing its log line.
COUNT_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Plan:
    configurations: list[Configuration]
    endpoints: tuple[str, ...]
    repetitions: int
    seconds: float
    warmup_seconds: float
    load_tool: str
    connections: int
    work_dir: Path


@dataclass(frozen=True)
class Measurement:
    configuration: Configuration
    endpoint: str
    path: str
    repetition: int
    load: LoadResult
    cpu_us_per_request: float
    peak_rss_mib: float
    spans_received: int | None
    # Every request completed in the run, warm-up included, in spans.
    spans_expected: float
    # Share of the service core's time used by other processes while measured.
    foreign_cpu_share: float
    # Position in the whole run, to find the baseline runs beside this one.
    sequence: int


def run_plan(plan: Plan, projects: BakedProjects) -> list[Measurement]:
    measurements = []
    for repetition in range(1, plan.repetitions + 1):
        for endpoint in plan.endpoints:
            for configuration in run_order(plan.configurations, endpoint):
                measurement = measure(
                    plan,
                    projects,
                    configuration,
                    endpoint,
                    repetition,
                    len(measurements),
                )
                print(describe(measurement))
                measurements.append(measurement)
    return measurements


def run_order(
    configurations: Sequence[Configuration], endpoint: str
) -> list[Configuration]:
    """Each baseline, then each configuration compared with it followed by it again.

    A configuration whose baseline is not in the plan runs on its own.
    """
    chosen = [c for c in configurations if endpoint in c.endpoints]
    names = {c.name for c in chosen}
    order: list[Configuration] = []
    for baseline in chosen:
        if baseline.traced and baseline.baseline in names:
            continue
        order.append(baseline)
        for configuration in chosen:
            if configuration.baseline == baseline.name:
                order += [configuration, baseline]
    return order


def measure(
    plan: Plan,
    projects: BakedProjects,
    configuration: Configuration,
    endpoint: str,
    repetition: int,
    sequence: int,
) -> Measurement:
    log_dir = plan.work_dir / "logs" / f"rep{repetition}-{endpoint}"
    with counting_spans(configuration, log_dir) as counter:
        with running_target(configuration, projects, counter, log_dir) as target:
            url = target.url(endpoint)
            warm_up = run_load(
                plan.load_tool, url, plan.warmup_seconds, plan.connections
            )
            cpu_before = total_cpu_seconds(target.pids)
            core_before = core_busy_seconds(SERVICE_CORE)
            started = time.monotonic()
            load = run_load(plan.load_tool, url, plan.seconds, plan.connections)
            window = time.monotonic() - started
            cpu_used = total_cpu_seconds(target.pids) - cpu_before
            core_used = core_busy_seconds(SERVICE_CORE) - core_before
            peak = peak_rss_mib(target.pids)
        requests = warm_up.requests + load.requests
        expected = configuration.spans_expected(endpoint, requests)
        received = settled_count(counter, expected) if counter else None
    return Measurement(
        configuration=configuration,
        endpoint=endpoint,
        path=target.paths[endpoint],
        repetition=repetition,
        load=load,
        cpu_us_per_request=cpu_used * 1e6 / load.requests if load.requests else 0.0,
        peak_rss_mib=peak,
        spans_received=received,
        spans_expected=expected,
        foreign_cpu_share=max(0.0, core_used - cpu_used) / window if window else 0.0,
        sequence=sequence,
    )


def settled_count(counter: SpanCounter, expected: float) -> int:
    deadline = time.monotonic() + COUNT_SETTLE_SECONDS
    received = counter.received()
    while received < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        received = counter.received()
    return received


def describe(measurement: Measurement) -> str:
    load = measurement.load
    spans = (
        ""
        if measurement.spans_received is None
        else f" spans {measurement.spans_received}/{measurement.spans_expected:.0f}"
    )
    return (
        f"rep {measurement.repetition} {measurement.configuration.name:<22} "
        f"{measurement.path:<12} {load.requests_per_second:8.1f} req/s "
        f"p50 {load.p50_ms:6.2f} ms p99 {load.p99_ms:7.2f} ms "
        f"cpu {measurement.cpu_us_per_request:6.0f} us/req "
        f"rss {measurement.peak_rss_mib:5.1f} MiB{spans} "
        f"other {measurement.foreign_cpu_share:4.0%}"
        + (f" errors {load.errors}" if load.errors else "")
    )

"""Where the time goes: py-spy samples of a service under load, as text.

py-spy (the `bench` extra) samples the running service's Python stacks from
outside, every thread, without changing its code; /proc gives each thread's
CPU time over the same window. Stacks that end waiting (on a lock, on the
event loop's poll, on the collector's answer to an export) are idle and left
out. The rest are folded into the shares that matter here: which layer the
innermost frame is in (uvicorn, FastAPI, FastAPI's telemetry, the OpenTelemetry
SDK, OTLP encoding, gRPC, logging, the service's own code) and which
functions, by self and by inclusive time.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.configurations import Configuration
from benchmarks.export_cost import ExportCost
from benchmarks.load import run_load
from benchmarks.process_stats import PROC, cpu_seconds
from benchmarks.services import BakedProjects, running_target
from benchmarks.span_counter import counting_spans

SAMPLE_RATE = 200
SETTLE_SECONDS = 2.0
GRACE_SECONDS = 30.0
IDLE_LEAVES = (
    "Condition.wait ",
    "Event.wait ",
    "Lock.acquire ",
    "select ",
    "_worker (",
    "BaseSelectorEventLoop.select ",
)
# The first fragment found in a frame's file names its layer.
LAYERS = (
    ("/fastapi/telemetry/", "FastAPI's telemetry middleware"),
    ("/opentelemetry/exporter/", "OTLP exporter and encoding"),
    ("/google/protobuf/", "OTLP exporter and encoding"),
    ("/opentelemetry/proto/", "OTLP exporter and encoding"),
    ("/grpc/", "gRPC"),
    ("/opentelemetry/", "OpenTelemetry API and SDK"),
    ("/logging/", "logging"),
    ("/uvicorn/", "uvicorn"),
    ("/starlette/", "FastAPI and Starlette"),
    ("/fastapi/", "FastAPI and Starlette"),
    ("/asyncio/", "asyncio"),
    ("/src/", "the service's own code"),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Everything up to the package: site-packages, the standard library, a src/ root.
_PREFIX = re.compile(r"^.*(?:site-packages/|/lib/python3\.\d+/|/src/)")
_THREAD_ID = re.compile(r"\((\d+)\)")
EVENT_LOOP = "event loop (requests)"
WORKER = "span processor worker (encode + send)"
OTHER = "other threads (gRPC's own, the thread pool)"
WORKER_LAYER = "span processor worker: OTLP encode + gRPC send (split below)"


@dataclass(frozen=True)
class Profile:
    title: str
    requests_per_second: float
    cpu_us_per_request: float
    samples: int
    # Each thread's share of the process's CPU time, from /proc.
    thread_cpu: list[tuple[str, float]]
    # Shares of the process's CPU time (see `fold`).
    layers: list[tuple[str, float]]
    self_time: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]


def py_spy_available() -> bool:
    return (
        shutil.which("py-spy") is not None
        or Path(sys.executable).with_name("py-spy").exists()
    )


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else "py-spy"


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of `pid` still running, by thread id."""
    times = {}
    for task in (PROC / str(pid) / "task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            times[int(task.name)] = cpu_seconds(pid, int(task.name))
    return times


def profile_under_load(
    configuration: Configuration,
    endpoint: str,
    projects: BakedProjects,
    work_dir: Path,
    load_tool: str,
    seconds: float = 10.0,
    connections: int = 16,
) -> Profile:
    """Sample the configuration's service for `seconds` while it is under load."""
    log_dir = work_dir / "logs" / "profile"
    raw = log_dir / f"{configuration.name}-{endpoint}.txt"
    with (
        counting_spans(configuration, log_dir / endpoint) as counter,
        running_target(configuration, projects, counter, log_dir) as target,
    ):
        pid = target.pids[-1]
        url = target.url(endpoint)
        results = []
        load = threading.Thread(
            target=lambda: results.append(
                run_load(load_tool, url, seconds + 2 * SETTLE_SECONDS, connections)
            ),
            daemon=True,
        )
        load.start()
        threading.Event().wait(SETTLE_SECONDS)
        before = thread_cpu_seconds(pid)
        subprocess.run(
            [
                _py_spy(),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(round(seconds)),
                "--rate",
                str(SAMPLE_RATE),
                "--format",
                "raw",
                "--threads",
                "--full-filenames",
                "--output",
                str(raw),
            ],
            capture_output=True,
            timeout=seconds + GRACE_SECONDS,
            check=True,
        )
        after = thread_cpu_seconds(pid)
        load.join(seconds + GRACE_SECONDS)
    rate = results[0].requests_per_second if results else 0.0
    title = f"{configuration.label}, `{target.paths[endpoint]}`"
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    return fold(raw.read_text(encoding="utf-8"), title, rate, pid, used, seconds)


def fold(
    raw: str,
    title: str,
    requests_per_second: float,
    pid: int,
    thread_cpu: dict[int, float],
    seconds: float,
) -> Profile:
    """Fold py-spy's raw (collapsed) stacks into CPU-weighted shares.

    On one core py-spy also counts a thread that is runnable but waiting for
    the CPU, so raw sample counts overstate a busy process's helper threads.
    Each thread's samples are therefore scaled to that thread's CPU time from
    /proc before they are added up: a share is a share of the process's CPU.
    The span processor's worker suffers most (it is woken while the event loop
    holds the core, and nearly all its samples land in gRPC's call), so it
    counts as one layer here and its split is measured in isolation.
    """
    per_thread: dict[int, _ThreadSamples] = {}
    workers: set[int] = set()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        match = _THREAD_ID.search(thread)
        tid = int(match.group(1)) if match else 0
        if any("BatchProcessor.worker " in frame for frame in frames):
            workers.add(tid)
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue
        per_thread.setdefault(tid, _ThreadSamples()).add(frames, int(count_text))
    cpu_total = sum(thread_cpu.values()) or 1.0
    layers: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for tid, samples in per_thread.items():
        if tid in workers:
            # Its split is measured in isolation instead (export_cost).
            layers[WORKER_LAYER] += thread_cpu.get(tid, 0.0) / cpu_total
            continue
        weight = thread_cpu.get(tid, 0.0) / cpu_total / samples.total
        for counter, counts in (
            (layers, samples.layers),
            (self_time, samples.self_time),
            (inclusive, samples.inclusive),
        ):
            for name, count in counts.items():
                counter[name] += count * weight
    return Profile(
        title=title,
        requests_per_second=requests_per_second,
        cpu_us_per_request=(
            cpu_total * 1e6 / (requests_per_second * seconds)
            if requests_per_second
            else 0.0
        ),
        samples=sum(samples.total for samples in per_thread.values()),
        thread_cpu=_thread_shares(thread_cpu, pid, workers),
        layers=_shares(layers, len(layers)),
        self_time=_shares(self_time, 20),
        # Frames every stack shares (the interpreter's start-up) say nothing.
        inclusive=[item for item in _shares(inclusive, 60) if item[1] < 0.9][:30],
    )


class _ThreadSamples:
    """One thread's non-idle samples: by layer, by function (self and inclusive)."""

    def __init__(self) -> None:
        self.total = 0
        self.layers: Counter[str] = Counter()
        self.self_time: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()

    def add(self, frames: list[str], count: int) -> None:
        self.total += count
        names = [_function(frame) for frame in frames]
        self.self_time[names[-1]] += count
        self.layers[_layer(frames[-1])] += count
        for name in set(names):
            self.inclusive[name] += count


def _shares(counter: Counter[str], top: int) -> list[tuple[str, float]]:
    return [(name, float(share)) for name, share in counter.most_common(top)]


def _thread_shares(
    thread_cpu: dict[int, float], pid: int, workers: set[int]
) -> list[tuple[str, float]]:
    spent: Counter[str] = Counter()
    for tid, cpu in thread_cpu.items():
        kind = EVENT_LOOP if tid == pid else WORKER if tid in workers else OTHER
        spent[kind] += cpu
    total = sum(spent.values()) or 1.0
    return [(kind, cpu / total) for kind, cpu in spent.most_common()]


def _function(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match.group('function')} ({_short(match.group('file'))})"


def _short(path: str) -> str:
    """The path from the package on (`fastapi/routing.py`, `my_service/app.py`)."""
    return _PREFIX.sub("", path)


def _layer(frame: str) -> str:
    match = _FRAME.match(frame)
    path = match.group("file") if match else frame
    for fragment, layer in LAYERS:
        if fragment in path:
            return layer
    return "the rest (standard library, C)"


def render_profiles(
    profiles: Sequence[Profile],
    command: str,
    export_costs: Sequence[ExportCost] = (),
) -> str:
    parts = [
        "# Where the time goes",
        "",
        f"py-spy samples ({SAMPLE_RATE} per second, every thread; stacks ending in "
        "a wait left out) of a service pinned to one core under full load, taken "
        f"by `{command}`. Every share is a share of the service process's CPU "
        "time: the thread shares come from /proc, and each thread's samples are "
        "scaled to its CPU time before layers and functions are added up. py-spy "
        "pauses the process to sample, so requests per second under the profiler "
        "are lower than in latest.md. gRPC's `_blocking` is the export call "
        "itself: serializing the request and handing it to gRPC's core.",
        "",
    ]
    for profile in profiles:
        parts += [
            f"## {profile.title}",
            "",
            f"{profile.samples:,} non-idle samples; "
            f"{profile.requests_per_second:,.0f} req/s and "
            f"{profile.cpu_us_per_request:,.0f} CPU µs per request under the "
            "profiler.",
            "",
            "| thread | share of the process's CPU (/proc) |",
            "|---|---|",
            *[f"| {name} | {share:.0%} |" for name, share in profile.thread_cpu],
            "",
            _share_table("layer (by the innermost frame)", profile.layers),
            "",
            "Top functions by self time:",
            "",
            _share_table("function", profile.self_time),
            "",
            "Top functions by inclusive (cumulative) time:",
            "",
            _share_table("function", profile.inclusive),
            "",
        ]
    if export_costs:
        parts += _export_cost_lines(export_costs)
    return "\n".join(parts)


def _export_cost_lines(costs: Sequence[ExportCost]) -> list[str]:
    return [
        "## The export path in isolation",
        "",
        "Under load py-spy cannot tell the worker running from the worker ready "
        "to run but waiting for the core, so the worker counts as one layer "
        "above; `benchmarks/export_cost.py` measures its split on "
        "the service core with no requests around: spans shaped like the "
        "service's `GET /` server span, encoded alone, then exported over gRPC "
        "to the receiver on the other core. CPU of the whole process.",
        "",
        "| batch size | encode, µs/span | encode + send, µs/span "
        "| longest encode of one batch, ms |",
        "|---|---|---|---|",
        *[
            f"| {c.batch_size} | {c.encode_us_per_span:.0f} | "
            f"{c.export_us_per_span:.0f} | {c.longest_encode_ms:.1f} |"
            for c in costs
        ],
        "",
    ]


def _share_table(heading: str, items: Sequence[tuple[str, float]]) -> str:
    lines = [f"| {heading} | share of CPU |", "|---|---|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in items]
    return "\n".join(lines)

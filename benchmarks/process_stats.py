"""What the benchmark reads about a running service from /proc.

CPU time is user + system time of the whole process (every thread, the span
processor's worker and gRPC's included), in clock ticks; peak RSS is VmHWM,
the high-water mark of resident memory since the process started.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from service_harness.processes import PROC, stat_fields

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def total_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds the processes `pids` have used so far."""
    ticks = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is None:
            raise ProcessLookupError(f"no /proc entry for {pid}")
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def memory_kib(pid: int, field: str) -> int:
    """A `Vm*` line of /proc/PID/status in KiB (VmHWM: peak, VmRSS: now)."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def peak_rss_mib(pids: Iterable[int]) -> float:
    return sum(memory_kib(pid, "VmHWM") for pid in pids) / 1024


def rss_mib(pids: Iterable[int]) -> float:
    return sum(memory_kib(pid, "VmRSS") for pid in pids) / 1024


def core_busy_seconds(core: int) -> float:
    """User, nice and system CPU seconds of core `core` so far.

    Compared with the service's own CPU time over the same window, it shows
    how much of the service's core other processes took (another test suite).
    Interrupt and softirq time are left out: loopback networking done for the
    service itself lands there.
    """
    for line in (PROC / "stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == f"cpu{core}":
            user, nice, system = map(int, fields[1:4])
            return (user + nice + system) / CLOCK_TICKS
    raise KeyError(f"no cpu{core} line in /proc/stat")

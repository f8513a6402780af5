"""Child processes the harness starts: each with a log file, each stopped by PID.

Each child runs in its own session (its own process group), so a Ctrl-C in the
terminal reaches only the parent, which then stops its children in order and
lets each flush its spans. Output goes to a file, never to a pipe: a pipe
nobody reads fills up and blocks the child.

Stopping is SIGTERM (or the signal the caller names: SIGINT lets an app's
atexit flush run, which uvicorn's SIGTERM path skips) to the child's PID and,
after a bound, SIGKILL. Then whatever is left of its process group (uvicorn's
``--workers`` processes) gets SIGKILL too, so nothing we started outlives
:meth:`ManagedProcess.stop`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

DEFAULT_STOP_TIMEOUT = 10.0
KILL_TIMEOUT = 5.0
GONE_POLL_SECONDS = 0.02
LOG_TAIL_LINES = 20
PROC = Path("/proc")


@dataclass
class ManagedProcess:
    """One child process, its command and the file its stdout and stderr go to."""

    name: str
    command: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    # Every process started in this interpreter, oldest first: a failing test
    # shows the output of those it ran (tests/service_output.py).
    started: ClassVar[list[ManagedProcess]] = []

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # The child keeps its own copy of the descriptor; ours can close.
            self._popen = subprocess.Popen(
                list(self.command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,
            )
        ManagedProcess.started.append(self)
        return self

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.pid

    def exit_code(self) -> int | None:
        """The exit code once the process has ended, None while it runs."""
        return None if self._popen is None else self._popen.poll()

    def descendant_pids(self) -> list[int]:
        """PIDs of every process below this one (uvicorn's workers): the rest of
        the process group it leads."""
        return group_members(self.pid) if self._popen is not None else []

    def log_text(self) -> str:
        """What the process has written so far; empty before it wrote a file."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(log is empty)"

    def stop(
        self, timeout: float = DEFAULT_STOP_TIMEOUT, signum: int = signal.SIGTERM
    ) -> int | None:
        """``signum``, wait up to ``timeout`` s, then SIGKILL; return the exit code.

        Safe to call twice and on a process that already ended. Descendants that
        outlive the process are killed too.
        """
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            _signal_pid(self._popen.pid, signum)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_pid(self._popen.pid, signal.SIGKILL)
                self._popen.wait(KILL_TIMEOUT)
        # A group keeps its id while it has members, so these are ours.
        survivors = self.descendant_pids()
        for pid in survivors:
            _signal_pid(pid, signal.SIGKILL)
        # A killed process takes a moment to end; callers check right after.
        _wait_until_gone(survivors, KILL_TIMEOUT)
        return self._popen.returncode


def _signal_pid(pid: int, signum: int) -> None:
    # The process may end between our check and the signal.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_until_gone(pids: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(pid_is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(GONE_POLL_SECONDS)


def pid_is_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (ended, not yet reaped) counts as gone."""
    fields = stat_fields(pid)
    if fields is not None:
        return fields[0] != "Z"
    if PROC.is_dir():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Every live process of group ``pgid`` but its leader, read from /proc;
    empty where there is none."""
    if not PROC.is_dir():
        return []
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        fields = stat_fields(int(entry.name))
        # State, parent, process group; a zombie has ended.
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return sorted(members)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: state, ppid, ...;
    None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ")".
    return stat[stat.rfind(")") + 2 :].split()

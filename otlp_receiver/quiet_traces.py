"""When a trace is worth printing: it has gone quiet, and looks whole or has
waited long enough.

Spans of one trace arrive in several exports: each service, and each batch,
exports on its own schedule, so service_b's spans can arrive seconds before or
after service_a's. A trace is reported once no span of it has arrived for
``quiet_seconds`` and nothing in it says more is on the way, or once it has been
quiet for ``settle_seconds`` whatever it looks like. Two things say more is on
the way (its open ends): a span whose parent has not arrived, and a CLIENT span
with no child yet (the service it called exports on a schedule of its own). A
trace that receives spans after it was reported is reported again, as an update
that says how many spans it had before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from otlp_receiver.model import ReceivedSpan

DEFAULT_QUIET_SECONDS = 1.0
# Longer than the SDK batch processor's default schedule (OTEL_BSP_SCHEDULE_DELAY,
# 5 s): two services each exporting on that schedule can send their halves of a
# trace up to 5 s apart.
DEFAULT_SETTLE_SECONDS = 6.0


@dataclass(frozen=True)
class QuietTrace:
    """A trace to print: why it may still be partial, and what was printed before."""

    trace_id: str
    span_count: int
    # Empty when the trace looks whole.
    open_ends: tuple[str, ...] = ()
    # Spans of this trace already reported; 0 the first time.
    reported_before: int = 0


def open_ends(spans: Sequence[ReceivedSpan]) -> tuple[str, ...]:
    """What in ``spans`` (one trace) says more spans are on the way."""
    span_ids = {span.span_id for span in spans}
    parent_ids = {span.parent_span_id for span in spans}
    ends = []
    for span in spans:
        if span.parent_span_id and span.parent_span_id not in span_ids:
            ends.append(f"{span.label}: parent {span.parent_span_id} not arrived")
        if span.kind == "CLIENT" and span.span_id not in parent_ids:
            ends.append(f"{span.label}: no child arrived from the service it called")
    return tuple(ends)


class QuietTraceTracker:
    """Remembers each trace's spans and last arrival; reports the settled ones."""

    def __init__(
        self,
        quiet_seconds: float = DEFAULT_QUIET_SECONDS,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_seconds = quiet_seconds
        self.settle_seconds = max(settle_seconds, quiet_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_arrival: dict[str, float] = {}
        self._spans: dict[str, list[ReceivedSpan]] = {}
        self._reported: dict[str, int] = {}

    def note(self, spans: Iterable[ReceivedSpan]) -> None:
        now = self._clock()
        with self._lock:
            for span in spans:
                # Re-inserting moves the trace to the end: dict order is recency.
                self._last_arrival.pop(span.trace_id, None)
                self._last_arrival[span.trace_id] = now
                self._spans.setdefault(span.trace_id, []).append(span)

    def pop_quiet(self) -> list[QuietTrace]:
        """Traces quiet for ``quiet_seconds`` with no open end, or for
        ``settle_seconds`` with some; oldest first. Each is reported again,
        as an update, if more of its spans arrive later."""
        now = self._clock()
        with self._lock:
            settled = []
            for trace_id, at in list(self._last_arrival.items()):
                quiet_for = now - at
                if quiet_for < self.quiet_seconds:
                    continue
                ends = open_ends(self._spans[trace_id])
                if not ends or quiet_for >= self.settle_seconds:
                    settled.append(self._report(trace_id, ends))
        return settled

    def pop_all(self) -> list[QuietTrace]:
        """Every trace not reported since its last span, settled or not."""
        with self._lock:
            return [
                self._report(trace_id, open_ends(self._spans[trace_id]))
                for trace_id in list(self._last_arrival)
            ]

    def _report(self, trace_id: str, ends: tuple[str, ...]) -> QuietTrace:
        del self._last_arrival[trace_id]
        count = len(self._spans[trace_id])
        before = self._reported.get(trace_id, 0)
        self._reported[trace_id] = count
        return QuietTrace(trace_id, count, ends, before)

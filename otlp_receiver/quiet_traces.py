"""Detection of traces that have gone quiet, i.e. are probably complete.

Spans of one trace arrive in several exports (each service and each batch
exports on its own schedule), so a trace is only worth printing once no new
span of it has arrived for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from otlp_receiver.model import ReceivedSpan

DEFAULT_QUIET_SECONDS = 1.0


class QuietTraceTracker:
    """Remembers when each trace last received a span; reports the quiet ones."""

    def __init__(
        self,
        quiet_seconds: float = DEFAULT_QUIET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last_arrival: dict[str, float] = {}

    def note(self, spans: Iterable[ReceivedSpan]) -> None:
        now = self._clock()
        with self._lock:
            for span in spans:
                # Re-inserting moves the trace to the end: dict order is recency.
                self._last_arrival.pop(span.trace_id, None)
                self._last_arrival[span.trace_id] = now

    def pop_quiet(self) -> list[str]:
        """Trace ids quiet for ``quiet_seconds``, oldest first; they are forgotten.

        A forgotten trace that receives more spans later is reported again.
        """
        cutoff = self._clock() - self.quiet_seconds
        with self._lock:
            quiet = [tid for tid, at in self._last_arrival.items() if at <= cutoff]
            for trace_id in quiet:
                del self._last_arrival[trace_id]
        return quiet

    def pop_all(self) -> list[str]:
        with self._lock:
            pending = list(self._last_arrival)
            self._last_arrival.clear()
        return pending

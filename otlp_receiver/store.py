"""Thread-safe in-memory store of received spans, metric points and export requests.

Transports write from their own threads while tests read and wait from another,
so every access goes through one ``threading.Condition``; waiting is
notification-driven and always bounded by a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from otlp_receiver.model import ExportRecord, MetricPoint, ReceivedSpan, group_by_trace

T = TypeVar("T")
Item = TypeVar("Item")


class TelemetryStore:
    """Spans and metric points in arrival order, plus one :class:`ExportRecord`
    per export call."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._points: list[MetricPoint] = []
        self._requests: list[ExportRecord] = []

    def add(
        self,
        record: ExportRecord,
        spans: Sequence[ReceivedSpan],
        points: Sequence[MetricPoint],
    ) -> None:
        # Record and data land together so a reader that saw the data also
        # sees the request that carried it.
        with self._changed:
            self._requests.append(record)
            self._spans.extend(spans)
            self._points.extend(points)
            self._changed.notify_all()

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._spans)

    def points(self) -> list[MetricPoint]:
        with self._changed:
            return list(self._points)

    def requests(self) -> list[ExportRecord]:
        with self._changed:
            return list(self._requests)

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        """Spans grouped by trace id; traces ordered by their first arrival."""
        return group_by_trace(self.spans())

    def clear(self) -> None:
        with self._changed:
            self._spans.clear()
            self._points.clear()
            self._requests.clear()
            self._changed.notify_all()

    def wait_until(
        self,
        read: Callable[[], list[Item]],
        check: Callable[[list[Item]], T | None],
        timeout: float,
    ) -> T | None:
        """Return the first truthy ``check(read())`` result, or None on timeout.

        ``check`` is re-evaluated on every change with a fresh copy from ``read``
        (:meth:`spans` or :meth:`points`), so it may keep or modify what it is given.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = check(read())
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

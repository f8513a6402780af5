"""Owns what the service says about span export: one line per collector outage.

The OTLP exporters log every retry and every failed batch, which buries a
service's own logs under tracebacks while a collector is down. This module wraps
the exporter to notice when export starts and stops failing, and folds the
exporters' own log records into those two lines: a warning when an outage
begins (with the exporter's last reason) and a line when export recovers (with
how long it took and how many spans were lost).
"""

import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)

EXPORTER_LOGGER_PREFIX = "opentelemetry.exporter."


class ExporterLogFolder(logging.Filter):
    """Keeps the exporters' complaints as reasons instead of printing them.

    The first complaint (a retry warning, seconds before the export gives up)
    is passed on at once to whoever listens, so an outage is reported when it
    starts rather than when the exporter's retries run out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last_reason = ""
        self.listeners: list[Callable[[str], None]] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.last_reason = record.getMessage().splitlines()[0][:300]
            for listener in self.listeners:
                listener(self.last_reason)
        return False


def fold_exporter_logs(folder: ExporterLogFolder) -> None:
    """Attach the folder to every exporter logger that exists now.

    Filters on a logger apply only to records logged on that very logger, so
    each one gets it; the exporter modules are imported before this runs.
    """
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(EXPORTER_LOGGER_PREFIX):
            exporter_logger = logging.getLogger(name)
            if folder not in exporter_logger.filters:
                exporter_logger.addFilter(folder)


class OutageReportingExporter(SpanExporter):
    """Wraps an exporter; logs once when export starts failing and once on recovery."""

    def __init__(
        self,
        inner: SpanExporter,
        destination: str,
        folder: ExporterLogFolder,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._destination = destination
        self._folder = folder
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._lost = 0
        folder.listeners.append(self._begin_outage)

    @property
    def in_outage(self) -> bool:
        return self._down_since is not None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception as error:  # noqa: BLE001 -- an exporter must not crash the worker
            self._folder.last_reason = f"{type(error).__name__}: {error}"
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self._record_success()
        else:
            self._record_failure(len(spans))
        return result

    def _record_failure(self, span_count: int) -> None:
        with self._lock:
            self._lost += span_count
        self._begin_outage(self._folder.last_reason or "export failed")

    def _begin_outage(self, reason: str) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = self._clock()
        logger.warning(
            "tracing: cannot export spans to %s (%s); spans are dropped until it "
            "answers, requests are not affected",
            self._destination,
            reason,
        )

    def _record_success(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            outage, lost = self._clock() - self._down_since, self._lost
            self._down_since, self._lost = None, 0
        logger.warning(
            "tracing: export to %s works again after %.1f s; %d spans were lost",
            self._destination,
            outage,
            lost,
        )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if self._begin_outage in self._folder.listeners:
            self._folder.listeners.remove(self._begin_outage)
        # The batch processor passes its remaining time only to exporters whose
        # shutdown accepts it, so pass it on the same way.
        if "timeout_millis" in inspect.signature(self._inner.shutdown).parameters:
            self._inner.shutdown(timeout_millis=timeout_millis)
        else:
            self._inner.shutdown()

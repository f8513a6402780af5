"""Owns what the service says about export: one line per collector outage, per signal.

The OTLP exporters log every retry and failed batch. The wrappers below keep the
records logged while their export runs as the reason and say two things
instead: a warning when export starts failing, and a line when it works again
with how much was lost. Both name the endpoint and quote the exporter through
redaction: the gRPC exporter's words name its target with any user:password in it.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .redaction import redact_url, scrub

logger = logging.getLogger(__name__)

EXPORTER_LOGGERS = "opentelemetry.exporter."
# The export running on this thread: its records are its reasons.
_running = threading.local()


def endpoint_hint(protocol: str, endpoint: str) -> str:
    """The usual cause of a failed export, read from the endpoint's shape."""
    grpc = protocol == "grpc"
    if grpc and ":4318" in endpoint:
        return "; 4318 is OTLP/HTTP's port, gRPC's is 4317"
    if not grpc and ":4317" in endpoint:
        return "; 4317 is OTLP/gRPC's port, HTTP's is 4318"
    if grpc and "://" not in endpoint:
        return "; an endpoint without a scheme means TLS (http:// for plaintext)"
    return ""


def first_line(message: str, limit: int = 300) -> str:
    """A reason for one log line: its first line, cut between words."""
    line = (message.splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " ..."


def exporter_loggers() -> list[logging.Logger]:
    # A logger's filters see only records logged on that very logger, so each
    # exporter module's logger (imported by now) gets the filter.
    names = list(logging.root.manager.loggerDict)
    return [logging.getLogger(n) for n in names if n.startswith(EXPORTER_LOGGERS)]


def fold_into_running_export(record: logging.LogRecord) -> bool:
    """An exporter's record, logged while an export runs, becomes its reason."""
    health = getattr(_running, "export", None)
    if health is None:
        return True
    if record.levelno >= logging.WARNING:
        # The first retry warning comes seconds before the export gives up.
        health.reason = first_line(scrub(record.getMessage()))
        health.begin_outage()
    return False


class ExportHealth:
    """One exporter's state, up or down since when, and the lines it says."""

    def __init__(self, signal: str, unit: str, destination: str, hint: str) -> None:
        self.signal, self.unit, self.hint = signal, unit, hint
        self.destination = redact_url(destination)
        self.reason = "export failed"
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._lost = 0
        # First of each logger's filters: the gRPC exporter's drops a record with
        # the previous one's template (a 20 s window), as the other signal's is.
        for exporter_logger in exporter_loggers():
            if fold_into_running_export not in exporter_logger.filters:
                exporter_logger.filters.insert(0, fold_into_running_export)

    def run(self, export: Callable[[], bool], items: int) -> bool:
        """`export()`'s success, its exporter's records and exceptions folded."""
        _running.export = self
        try:
            succeeded = export()
        except Exception as error:  # noqa: BLE001 -- an exporter must not kill the worker
            self.reason = scrub(f"{type(error).__name__}: {error}")
            succeeded = False
        finally:
            _running.export = None
        if not succeeded:
            with self._lock:
                self._lost += items
            self.begin_outage()
            return False
        with self._lock:
            if self._down_since is None:
                return True
            outage, lost = time.monotonic() - self._down_since, self._lost
            self._down_since, self._lost = None, 0
        logger.warning(
            "%s: export to %s works again after %.1f s; %d %s were lost",
            self.signal,
            self.destination,
            outage,
            lost,
            self.unit,
        )
        return True

    def begin_outage(self) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        logger.warning(
            "%s: cannot export %s to %s (%s)%s; %s are dropped until it answers, "
            "requests are not affected",
            self.signal,
            self.unit,
            self.destination,
            self.reason,
            self.hint,
            self.unit,
        )


class OutageReportingExporter(SpanExporter):
    """A span exporter that says when its collector goes down and comes back."""

    def __init__(self, inner: SpanExporter, destination: str, hint: str = "") -> None:
        self._inner = inner
        self._health = ExportHealth("tracing", "spans", destination, hint)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        def export() -> bool:
            return self._inner.export(spans) is SpanExportResult.SUCCESS

        if self._health.run(export, len(spans)):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._inner.shutdown()


def count_points(data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )


class OutageReportingMetricExporter(MetricExporter):
    """A metric exporter that says when its collector goes down and comes back."""

    def __init__(self, inner: MetricExporter, destination: str, hint: str = "") -> None:
        # The reader asks its exporter for these; the SDK keeps them private.
        super().__init__(inner._preferred_temporality, inner._preferred_aggregation)
        self._inner = inner
        self._health = ExportHealth("metrics", "metric points", destination, hint)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        def export() -> bool:
            result = self._inner.export(metrics_data, timeout_millis, **kwargs)
            return result is MetricExportResult.SUCCESS

        if self._health.run(export, count_points(metrics_data)):
            return MetricExportResult.SUCCESS
        return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)

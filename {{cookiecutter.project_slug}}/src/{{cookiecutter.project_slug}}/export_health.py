"""Owns what the service says about span export: one line per collector outage.

The OTLP exporters log every retry and failed batch. The wrapper below keeps
those records as the reason and says two things instead: a warning when export
starts failing, and a line when it works again with how many spans were lost.
Both name the endpoint and quote the exporter through redaction: the gRPC
exporter's words name its target with any user:password in it.
"""

import logging
import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .redaction import redact_url, scrub

logger = logging.getLogger(__name__)

EXPORTER_LOGGERS = "opentelemetry.exporter."


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


class OutageReportingExporter(SpanExporter, logging.Filter):
    """Wraps an exporter, and filters the exporters' loggers for its reasons."""

    def __init__(
        self,
        inner: SpanExporter,
        destination: str,
        hint: str = "",
    ) -> None:
        logging.Filter.__init__(self)
        self._inner = inner
        self._destination = redact_url(destination)
        self._hint = hint
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._lost = 0
        self._reason = "export failed"
        for exporter_logger in exporter_loggers():
            exporter_logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            # The first retry warning comes seconds before the export gives up.
            self._reason = first_line(scrub(record.getMessage()))
            self._begin_outage()
        return False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception as error:  # noqa: BLE001 -- an exporter must not kill the worker
            self._reason = scrub(f"{type(error).__name__}: {error}")
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            with self._lock:
                self._lost += len(spans)
            self._begin_outage()
            return result
        with self._lock:
            if self._down_since is None:
                return result
            outage, lost = time.monotonic() - self._down_since, self._lost
            self._down_since, self._lost = None, 0
        logger.warning(
            "tracing: export to %s works again after %.1f s; %d spans were lost",
            self._destination,
            outage,
            lost,
        )
        return result

    def _begin_outage(self) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        logger.warning(
            "tracing: cannot export spans to %s (%s)%s; spans are dropped until it "
            "answers, requests are not affected",
            self._destination,
            self._reason,
            self._hint,
        )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        for exporter_logger in exporter_loggers():
            exporter_logger.removeFilter(self)
        self._inner.shutdown()

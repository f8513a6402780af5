"""Owns the service's log output and its correlation with traces.

Every record that reaches the service's console handler, or one of uvicorn's,
carries the service name and, when it was logged while a span was current (a
request being handled), that span's `trace_id` and `span_id` in the hexadecimal
form tracing backends show. A line logged outside a request carries no ids at
all, rather than zeros, so `trace_id=` in a line always names a real trace.

`SERVICE_LOG_FORMAT` picks text (the default) or JSON, one object per line.
`SERVICE_ACCESS_LOG=false` turns uvicorn's per-request access lines off, before
they are made: the server span already records every request it samples, and
at full load the access line costs about a fifth of a request's CPU.
Nothing here exports logs: the ids are written into the lines, where a log
pipeline can pick them up and link them to the trace.
"""

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.logging import ColourizedFormatter

from .settings import (
    DEFAULT_LOG_FORMAT,
    SERVICE_SLUG,
    ConfigurationError,
    Settings,
)
from .telemetry import build_resource

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation)s] %(message)s"
CONSOLE_HANDLER_NAME = "service-console"
# uvicorn configures these three itself (its LOGGING_CONFIG, or --log-config).
ACCESS_LOGGER = "uvicorn.access"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", ACCESS_LOGGER)
SPAN_CONTEXT_ATTRIBUTE = "otel_span_context"


class TraceContextFilter(logging.Filter):
    """Adds `service_name`, `trace_id` and `span_id` to every record it sees.

    The ids are those of the current span; "" when no span is current.
    """

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = span_context_of(record)
        record.service_name = self.service_name
        if span_context is None:
            record.trace_id = record.span_id = ""
        else:
            record.trace_id = trace.format_trace_id(span_context.trace_id)
            record.span_id = trace.format_span_id(span_context.span_id)
        return True


def span_context_of(record: logging.LogRecord) -> trace.SpanContext | None:
    """The span a record belongs to: the current one, else its exception's."""
    current = trace.get_current_span().get_span_context()
    if current.is_valid:
        return current
    if record.exc_info and record.exc_info[1] is not None:
        return getattr(record.exc_info[1], SPAN_CONTEXT_ATTRIBUTE, None)
    return None


class SpanOnErrorMiddleware:
    """Tags an exception leaving the app with the span of the request it broke.

    uvicorn logs an application's unhandled exception after the app has raised
    it, when the request's span is no longer current; the tag lets that log
    line carry the request's ids. It sits inside FastAPI's telemetry, where the
    server span is still current.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            span_context = trace.get_current_span().get_span_context()
            if span_context.is_valid and not hasattr(error, SPAN_CONTEXT_ATTRIBUTE):
                setattr(error, SPAN_CONTEXT_ATTRIBUTE, span_context)
            raise


def correlation(record: logging.LogRecord) -> str:
    parts = [f"service={getattr(record, 'service_name', '')}"]
    if getattr(record, "trace_id", ""):
        parts.append(f"trace_id={record.trace_id}")
        parts.append(f"span_id={record.span_id}")
    return " ".join(parts)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [service=... trace_id=... span_id=...] message`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.correlation = correlation(record)
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `trace_id` and `span_id` only inside a span."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service_name": getattr(record, "service_name", ""),
        }
        if getattr(record, "trace_id", ""):
            line["trace_id"] = record.trace_id
            line["span_id"] = record.span_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# uvicorn's own formatters and ours; any other is someone's choice and is kept.
REPLACEABLE_FORMATTERS = (ColourizedFormatter, TextFormatter, JsonFormatter)


def build_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def build_handler(
    stream: TextIO, log_format: str, service_name: str
) -> logging.StreamHandler:
    """A handler writing correlated lines to `stream`, in the given format."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(build_formatter(log_format))
    handler.addFilter(TraceContextFilter(service_name))
    return handler


def service_name_of(settings: Settings) -> str:
    """The `service.name` the spans carry: OTEL_SERVICE_NAME, else the slug."""
    resource = build_resource(settings)
    return str(resource.attributes.get(SERVICE_NAME, settings.service_slug))


def log_settings(settings: Settings | None) -> tuple[str, str, bool]:
    """The log format, service name and access-log switch, from `settings` or env."""
    if settings is None:
        try:
            settings = Settings.from_environ()
        except ConfigurationError:
            # The app factory reports the bad variable right after; logging
            # must not be what fails first, with a traceback.
            return DEFAULT_LOG_FORMAT, SERVICE_SLUG, True
    return settings.log_format, service_name_of(settings), settings.access_log


def correlate(
    handler: logging.Handler, trace_filter: TraceContextFilter, log_format: str
) -> None:
    """Give a handler the ids; give it the service's format if it had uvicorn's.

    A formatter someone chose (a --log-config) is kept: it can still print
    %(trace_id)s, %(span_id)s and %(service_name)s.
    """
    for old in [f for f in handler.filters if isinstance(f, TraceContextFilter)]:
        handler.removeFilter(old)
    handler.addFilter(trace_filter)
    if isinstance(handler.formatter, REPLACEABLE_FORMATTERS):
        handler.setFormatter(build_formatter(log_format))


def configure_logging(settings: Settings | None = None) -> None:
    """Correlate the service's and uvicorn's log lines with the current span.

    Runs when the app is built, after uvicorn has set up its own loggers, so
    `python -m <package>` and `uvicorn --factory` get the same lines. The
    service's logger gets a console handler unless the root logger has handlers
    (an application server's or a test runner's), which then get the ids too.
    Safe to call again: it replaces what an earlier call installed.
    """
    log_format, service_name, access_log = log_settings(settings)
    # A disabled logger answers isEnabledFor() with False, so uvicorn's access
    # line is never built; its --log-level and --no-access-log still work.
    logging.getLogger(ACCESS_LOGGER).disabled = not access_log
    trace_filter = TraceContextFilter(service_name)
    service_logger = logging.getLogger(__package__)
    console = [h for h in service_logger.handlers if h.name == CONSOLE_HANDLER_NAME]
    root_handlers = logging.getLogger().handlers
    if not console and not root_handlers and not service_logger.handlers:
        handler = build_handler(sys.stderr, log_format, service_name)
        handler.set_name(CONSOLE_HANDLER_NAME)
        service_logger.addHandler(handler)
        service_logger.setLevel(logging.INFO)
        console = [handler]
    handlers = [*console, *root_handlers]
    for name in UVICORN_LOGGERS:
        handlers.extend(logging.getLogger(name).handlers)
    for handler in dict.fromkeys(handlers):
        correlate(handler, trace_filter, log_format)

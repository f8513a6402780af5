"""Owns the service's log lines and their correlation with traces.

Every line of the service's and uvicorn's carries the service name and, when
logged while a span was current, its `trace_id` and `span_id` as backends show
them; a line outside a request carries no ids rather than zeros. No line, the
service's or a library's, carries a URL's user:password or query values.
"""

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.logging import ColourizedFormatter

from .redaction import scrub
from .settings import Settings
from .telemetry import build_resource

ACCESS_LOGGER = "uvicorn.access"
# uvicorn configures these itself (its LOGGING_CONFIG, or --log-config).
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", ACCESS_LOGGER)
SPAN_CONTEXT_ATTRIBUTE = "otel_span_context"


class TraceContextFilter(logging.Filter):
    """Adds `service_name`, `trace_id` and `span_id` to each record."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid and record.exc_info:
            # uvicorn logs an app's exception once its request's span has ended.
            context = getattr(record.exc_info[1], SPAN_CONTEXT_ATTRIBUTE, context)
        record.service_name = self.service_name
        record.trace_id = record.span_id = ""
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        return True


def scrub_record(record: logging.LogRecord) -> bool:
    """Credentials and query values out of the message and the traceback, for
    whichever formatter writes the line; arguments keep their shape (uvicorn's
    access formatter reads them)."""
    if isinstance(record.args, tuple):
        record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 -- logging reports a bad call itself, later
        return True
    if (scrubbed := scrub(message)) != message:
        record.msg, record.args = scrubbed, None
    if record.exc_info:
        # Formatters print exc_text when it is set; another may have set it.
        traceback = record.exc_text or logging.Formatter().formatException(
            record.exc_info
        )
        record.exc_text = scrub(traceback)
    return True


class SpanOnErrorMiddleware:
    """Tags an exception leaving the app with the span of the request it broke.

    It sits inside FastAPI's telemetry, where the server span is still current,
    so uvicorn's line about the exception can carry the request's ids.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            context = trace.get_current_span().get_span_context()
            setattr(error, SPAN_CONTEXT_ATTRIBUTE, context)
            raise


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [service=... trace_id=... span_id=...] message`."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(correlation)s] %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        # Built here, not in the filter: JSON lines never need it.
        ids = getattr(record, "trace_id", "")
        if ids:
            ids = f" trace_id={ids} span_id={getattr(record, 'span_id', '')}"
        record.correlation = f"service={getattr(record, 'service_name', '')}{ids}"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `trace_id` and `span_id` only inside a span."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        line = {
            "time": created.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service_name": getattr(record, "service_name", ""),
        }
        if trace_id := getattr(record, "trace_id", ""):
            line.update(trace_id=trace_id, span_id=getattr(record, "span_id", ""))
        if record.exc_info:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Correlate the service's and uvicorn's lines with the current span.

    Runs when the app is built, after uvicorn set up its loggers, so both ways of
    starting log alike. uvicorn's formatters become the service's; one someone
    chose (--log-config) stays and can use %(trace_id)s, %(span_id)s and
    %(service_name)s. The root gets a handler unless it has one, so that a
    library's warnings are formatted and scrubbed like the service's lines.
    """
    # A disabled logger answers isEnabledFor() with False: the access line is
    # never formatted. --no-access-log and --log-level still work as well.
    access_logger = logging.getLogger(ACCESS_LOGGER)
    access_logger.disabled = not settings.access_log
    service_logger = logging.getLogger(__package__)
    if not logging.root.handlers and not service_logger.handlers:
        logging.root.addHandler(logging.StreamHandler())
        service_logger.setLevel(logging.INFO)
    context = TraceContextFilter(str(build_resource().attributes[SERVICE_NAME]))
    formatter = JsonFormatter() if settings.log_format == "json" else TextFormatter()
    handlers = [*service_logger.handlers, *logging.root.handlers]
    for name in UVICORN_LOGGERS:
        handlers += logging.getLogger(name).handlers
    for handler in dict.fromkeys(handlers):
        for old in handler.filters[:]:
            if isinstance(old, TraceContextFilter) or old is scrub_record:
                handler.removeFilter(old)
        handler.addFilter(context)
        handler.addFilter(scrub_record)
        if isinstance(
            handler.formatter,
            (ColourizedFormatter, TextFormatter, JsonFormatter, type(None)),
        ):
            handler.setFormatter(formatter)

"""Owns the trace headers the service reads and sends.

The SDK forwards an incoming `tracestate` as it came, so a caller can make this
service send a header past the 512 characters the specification allows. The
wrapper below lets the configured propagators (OTEL_PROPAGATORS, by default
tracecontext and baggage) do their work, then trims `tracestate` the way the
specification says: members over 128 characters go first, then members from
the end, until the header fits. It also turns the "no context" that an empty
propagator list returns into an empty context, which the server can use.

The API logs a warning, with the caller's text in it, for every malformed
`tracestate` it reads: one line per request, written by whoever sends the
header. Those warnings are passed at most once a minute, shortened, with the
count of those left out.
"""

import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

MAX_TRACESTATE_LENGTH = 512
MAX_KEPT_MEMBER_LENGTH = 128
# The logger of opentelemetry.trace.span, where TraceState parses headers.
TRACE_HEADER_LOGGER = "opentelemetry.trace.span"
HEADER_WARNING_INTERVAL_SECONDS = 60.0
MAX_LOGGED_MESSAGE_LENGTH = 200


def limit_tracestate(header: str) -> str:
    members = [member.strip() for member in header.split(",") if member.strip()]
    while len(",".join(members)) > MAX_TRACESTATE_LENGTH:
        oversized = [
            i for i, m in enumerate(members) if len(m) > MAX_KEPT_MEMBER_LENGTH
        ]
        members.pop(oversized[-1] if oversized else -1)
    return ",".join(members)


class TraceStateLimitingPropagator(TextMapPropagator):
    """Delegates to the configured propagator; trims `tracestate` on the way out."""

    def __init__(self, inner: TextMapPropagator) -> None:
        self.inner = inner

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        extracted = self.inner.extract(carrier, context=context, getter=getter)
        # With OTEL_PROPAGATORS=none the SDK's composite returns None, which
        # FastAPI's telemetry attaches and then fails on: every request a 500.
        if extracted is None:
            return context if context is not None else Context()
        return extracted

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        headers: MutableMapping[str, Any] = {}
        self.inner.inject(headers, context=context)
        for name, value in headers.items():
            if name == "tracestate":
                value = limit_tracestate(value)
                if not value:
                    continue
            setter.set(carrier, name, value)

    @property
    def fields(self) -> set[str]:
        return self.inner.fields


class HeaderWarningLimiter(logging.Filter):
    """Lets one trace-header warning through per interval; counts the others.

    The one that passes is cut to 200 characters and says how many were left
    out since the last one, so a flood of bad headers stays visible as a count
    instead of filling the log.
    """

    def __init__(
        self,
        interval: float = HEADER_WARNING_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_allowed: float | None = None
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            now = self._clock()
            if self._next_allowed is not None and now < self._next_allowed:
                self._left_out += 1
                return False
            self._next_allowed = now + self._interval
            left_out, self._left_out = self._left_out, 0
        message = record.getMessage()
        if len(message) > MAX_LOGGED_MESSAGE_LENGTH:
            message = message[:MAX_LOGGED_MESSAGE_LENGTH] + "..."
        if left_out:
            message += f" ({left_out} more like it not logged)"
        record.msg, record.args = message, None
        return True


def limit_header_warnings() -> None:
    """Put one limiter on the trace-header logger; calling again changes nothing."""
    header_logger = logging.getLogger(TRACE_HEADER_LOGGER)
    if not any(isinstance(f, HeaderWarningLimiter) for f in header_logger.filters):
        header_logger.addFilter(HeaderWarningLimiter())


def install_limited_propagator() -> None:
    """Wrap the global propagator once and limit its warnings; idempotent."""
    current = propagate.get_global_textmap()
    if not isinstance(current, TraceStateLimitingPropagator):
        propagate.set_global_textmap(TraceStateLimitingPropagator(current))
    limit_header_warnings()

"""Owns the trace headers: W3C Trace Context Level 2, read and sent to the letter.

Unlike the API's propagator, two `traceparent` headers start a new trace;
`tracestate` is read under Level 2's key grammar and discarded whole when any
member is invalid or there are more than 32, as the W3C test suite expects at
its strictest (the parent is still continued; of a duplicated key, the first
counts); and nothing a caller sends is logged, by this module or by the SDK's
baggage parser. Vendors must propagate at least 512 characters of `tracestate`
and may trim beyond: this service keeps at most 512 as it reads them, dropping
members over 128 first, then from the end, so what it sends on stays within them.
"""

import logging
import re
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import CarrierT, Getter, default_getter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .settings import Settings

# version "-" trace-id "-" parent-id "-" trace-flags, then more fields after a
# dash in versions after 00.
# ASCII classes only: `\d` would take other scripts' digits.
TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?"
)
# key = ( lcalpha / DIGIT ) 0*255 ( keychar ), keychar adding _ - * / @;
# value = 0*255( chr ) nblk-chr: printable ASCII but , and =, no space last.
KEY = r"[a-z0-9][a-z0-9_\-*/@]{0,255}"
VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
MEMBER = re.compile(f"({KEY})=({VALUE})")
MAX_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512
MAX_KEPT_MEMBER_LENGTH = 128


def parse_traceparent(headers: list[str]) -> tuple[int, int, int] | None:
    """The caller's trace id, span id and flags; None starts a new trace (as two
    `traceparent` headers do: neither can be trusted over the other)."""
    match = (
        TRACEPARENT.fullmatch(headers[0].strip(" \t")) if len(headers) == 1 else None
    )
    if match is None:
        return None
    version, trace_id, span_id, flags, more = match.groups()
    if version == "ff" or (version == "00" and more):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


class W3CTraceState(TraceState):
    """Members already checked against the Level 2 grammar.

    The API's TraceState re-checks keys against Level 1's, which refuses valid
    Level 2 keys (a digit first, `@` anywhere) and logs each one it refuses.
    """

    def __init__(self, members: dict[str, str]) -> None:
        super().__init__()
        self._dict.update(members)


def limit_tracestate(members: list[str]) -> list[str]:
    """At most 512 characters as a header: members over 128 go first, then
    members from the end."""
    while len(",".join(members)) > MAX_TRACESTATE_LENGTH:
        long = [i for i, m in enumerate(members) if len(m) > MAX_KEPT_MEMBER_LENGTH]
        members.pop(long[-1] if long else -1)
    return members


def parse_tracestate(headers: list[str]) -> TraceState:
    """Every `tracestate` header combined in order, within the length this
    service sends on; empty if any member is invalid or there are over 32."""
    listed = [m.strip(" \t") for m in ",".join(headers).split(",")]
    matches = [MEMBER.fullmatch(member) for member in listed if member]
    if len(matches) > MAX_MEMBERS or not all(matches):
        return TraceState()
    members: dict[str, str] = {}
    for match in filter(None, matches):
        members.setdefault(match[1], match[0])
    kept = limit_tracestate(list(members.values()))
    return W3CTraceState(dict(member.split("=", 1) for member in kept))


class W3CTraceContextPropagator(TraceContextTextMapPropagator):
    """Reads the headers as above; sends them as the API's propagator does."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        context = context if context is not None else Context()
        parent = parse_traceparent(getter.get(carrier, "traceparent") or [])
        if parent is None:
            return context
        trace_id, span_id, flags = parent
        state = parse_tracestate(getter.get(carrier, "tracestate") or [])
        span = SpanContext(trace_id, span_id, True, TraceFlags(flags), state)
        return trace.set_span_in_context(NonRecordingSpan(span), context)


class Propagators(CompositePropagator):
    def extract(self, *args: Any, **kwargs: Any) -> Context:
        # With OTEL_PROPAGATORS=none the API's composite returns None, which
        # FastAPI's telemetry would attach and fail on: every request a 500.
        return super().extract(*args, **kwargs) or Context()


def install_propagation(settings: Settings) -> None:
    """The propagators OTEL_PROPAGATORS names, with this module's `tracecontext`."""
    # The SDK's baggage parser logs a refused header or member as sent: 60 KB,
    # or a forged line, at a caller's will. W3C Baggage drops it; so does this.
    logging.getLogger("opentelemetry.baggage.propagation").disabled = True
    propagators = []
    for name in settings.propagators:
        if name == "tracecontext":
            propagators.append(W3CTraceContextPropagator())
        elif name != "none":
            (entry_point,) = entry_points(group="opentelemetry_propagator", name=name)
            propagators.append(entry_point.load()())
    propagate.set_global_textmap(Propagators(propagators))

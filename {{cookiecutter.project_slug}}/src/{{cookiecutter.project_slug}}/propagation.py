"""Owns the trace headers the service reads and sends.

The SDK forwards an incoming `tracestate` as it came, so a caller can make this
service send a header past the 512 characters the specification allows. The
wrapper below lets the configured propagators (OTEL_PROPAGATORS, by default
tracecontext and baggage) do their work, then trims `tracestate` the way the
specification says: members over 128 characters go first, then members from
the end, until the header fits. It also turns the "no context" that an empty
propagator list returns into an empty context, which the server can use.
"""

from collections.abc import MutableMapping
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


def install_limited_propagator() -> None:
    """Wrap the global propagator once; calling again changes nothing."""
    current = propagate.get_global_textmap()
    if not isinstance(current, TraceStateLimitingPropagator):
        propagate.set_global_textmap(TraceStateLimitingPropagator(current))

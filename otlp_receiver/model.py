"""Plain data the receiver hands out: one received span, one export request.

These types carry no protobuf and no behaviour beyond small conveniences, so the
store, the JSON lines writer and the waterfall renderer can share them without
depending on the wire format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Transport = Literal["grpc", "http"]

SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived, with ids as lowercase hex strings."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str
    attributes: dict[str, Any] = field(default_factory=dict)
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    service_name: str = ""
    scope_name: str = ""
    transport: Transport = "grpc"
    # Each event as {"name": ..., "attributes": {...}}: exceptions arrive this way.
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        # A clock going backwards on the sender must not yield negative durations.
        return max(self.end_ns - self.start_ns, 0)


@dataclass(frozen=True)
class ExportRecord:
    """One export call as received: how it came in and what it carried."""

    transport: Transport
    headers: dict[str, str]
    span_count: int
    service_names: tuple[str, ...] = ()


def group_by_trace(spans: Iterable[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    """Spans grouped by trace id, traces in order of their first span."""
    traces: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces

"""Plain data the receiver hands out: one received span, one metric data point,
one export request.

These types carry no protobuf and no behaviour beyond small conveniences, so the
store, the JSON lines writer and the renderers can share them without depending
on the wire format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Transport = Literal["grpc", "http"]
Signal = Literal["traces", "metrics"]

SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES = ("UNSET", "OK", "ERROR")
NUMBER_KINDS = ("sum", "gauge")


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

    @property
    def label(self) -> str:
        """How messages name a span: ``service_b SERVER 'GET /service_b'``."""
        return f"{self.service_name or '(no service)'} {self.kind} {self.name!r}"


@dataclass(frozen=True)
class Exemplar:
    """One measurement kept with the span it was recorded in; the ids are hex,
    empty when it was recorded outside a sampled span."""

    trace_id: str
    span_id: str
    value: float
    time_ns: int


@dataclass(frozen=True)
class MetricPoint:
    """One data point as it arrived, with its metric and the process that sent it.

    ``kind`` is the OTLP data field: the ``NUMBER_KINDS`` fill ``value``, the
    others (``histogram``, ``exponential_histogram``, ``summary``) fill ``count``
    and ``sum``. Exporters send cumulative totals by default, so the newest point
    of a series holds everything so far (:func:`latest_points`).
    """

    name: str
    unit: str
    kind: str
    attributes: dict[str, Any]
    time_ns: int
    service_name: str = ""
    service_instance_id: str = ""
    value: float = 0.0
    count: int = 0
    sum: float = 0.0
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    exemplars: tuple[Exemplar, ...] = ()
    transport: Transport = "grpc"

    @property
    def exemplar_trace_id(self) -> str | None:
        """The trace of the newest exemplar recorded in a span, if there is one."""
        in_spans = [exemplar for exemplar in self.exemplars if exemplar.trace_id]
        if not in_spans:
            return None
        return max(in_spans, key=lambda exemplar: exemplar.time_ns).trace_id


@dataclass(frozen=True)
class ExportRecord:
    """One export call as received: how it came in and what it carried."""

    transport: Transport
    headers: dict[str, str]
    span_count: int
    service_names: tuple[str, ...] = ()
    signal: Signal = "traces"
    point_count: int = 0


def group_by_trace(spans: Iterable[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    """Spans grouped by trace id, traces in order of their first span."""
    traces: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def latest_points(points: Iterable[MetricPoint]) -> list[MetricPoint]:
    """The newest point of each series (one metric, process and set of
    attributes), series in order of their first arrival."""
    latest: dict[tuple[str, ...], MetricPoint] = {}
    for point in points:
        attributes = repr(sorted(point.attributes.items()))
        series = (point.name, point.service_name, point.service_instance_id, attributes)
        if series not in latest or point.time_ns >= latest[series].time_ns:
            latest[series] = point
    return list(latest.values())

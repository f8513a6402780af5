"""Translation of OTLP protobuf messages into :class:`ReceivedSpan` and
:class:`MetricPoint` values.

This is the only module that knows the shape of ``ExportTraceServiceRequest``
and ``ExportMetricsServiceRequest``; both transports hand their decoded request
here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Exemplar as ProtoExemplar
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otlp_receiver.model import (
    NUMBER_KINDS,
    SPAN_KINDS,
    STATUS_CODES,
    Exemplar,
    MetricPoint,
    ReceivedSpan,
    Transport,
)

SERVICE_NAME_KEY = "service.name"
SERVICE_INSTANCE_ID_KEY = "service.instance.id"

ExportRequest = ExportTraceServiceRequest | ExportMetricsServiceRequest
# What a transport hands each well-formed request to, with its headers.
ExportHandler = Callable[[ExportRequest, dict[str, str]], None]


def decode_any_value(value: AnyValue) -> Any:
    """Return the Python value held by an OTLP ``AnyValue`` (bytes become hex)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    if which == "bytes_value":
        return value.bytes_value.hex()
    # Unset values and string-table indexes (only meaningful for profiles).
    return None


def decode_attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: decode_any_value(kv.value) for kv in key_values}


def decode_request(
    request: ExportTraceServiceRequest, transport: Transport
) -> list[ReceivedSpan]:
    """Flatten every span of an export request, in the order they were sent."""
    return [
        _decode_span(span, resource_spans.resource, scope_spans.scope.name, transport)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def decode_metrics_request(
    request: ExportMetricsServiceRequest, transport: Transport
) -> list[MetricPoint]:
    """Flatten every data point of an export request, in the order they were sent."""
    return [
        point
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        for point in _decode_points(metric, resource_metrics.resource, transport)
    ]


def _decode_span(
    span: Span, resource: Resource, scope_name: str, transport: Transport
) -> ReceivedSpan:
    # Decoded per span, so mutating one span's dict cannot change its siblings'.
    resource_attributes = decode_attributes(resource.attributes)
    return ReceivedSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        kind=_enum_label(SPAN_KINDS, span.kind),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status=_enum_label(STATUS_CODES, span.status.code),
        status_message=span.status.message,
        attributes=decode_attributes(span.attributes),
        resource_attributes=resource_attributes,
        service_name=str(resource_attributes.get(SERVICE_NAME_KEY, "")),
        scope_name=scope_name,
        transport=transport,
        events=[
            {"name": event.name, "attributes": decode_attributes(event.attributes)}
            for event in span.events
        ],
    )


def _decode_points(
    metric: Metric, resource: Resource, transport: Transport
) -> list[MetricPoint]:
    kind = metric.WhichOneof("data")
    if kind is None:
        return []
    resource_attributes = decode_attributes(resource.attributes)
    # Each kind has its own point message; a field it lacks reads as empty.
    return [
        MetricPoint(
            name=metric.name,
            unit=metric.unit,
            kind=kind,
            attributes=decode_attributes(point.attributes),
            time_ns=point.time_unix_nano,
            service_name=str(resource_attributes.get(SERVICE_NAME_KEY, "")),
            service_instance_id=str(
                resource_attributes.get(SERVICE_INSTANCE_ID_KEY, "")
            ),
            value=_number(point) if kind in NUMBER_KINDS else 0.0,
            count=getattr(point, "count", 0),
            sum=getattr(point, "sum", 0.0),
            bucket_counts=tuple(getattr(point, "bucket_counts", ())),
            explicit_bounds=tuple(getattr(point, "explicit_bounds", ())),
            exemplars=tuple(
                Exemplar(
                    trace_id=exemplar.trace_id.hex(),
                    span_id=exemplar.span_id.hex(),
                    value=_number(exemplar),
                    time_ns=exemplar.time_unix_nano,
                )
                for exemplar in getattr(point, "exemplars", ())
            ),
            transport=transport,
        )
        for point in getattr(metric, kind).data_points
    ]


def _number(message: NumberDataPoint | ProtoExemplar) -> float:
    # An int or a double, or nothing when the sender left it unset.
    which = message.WhichOneof("value")
    return getattr(message, which) if which else 0.0


def _enum_label(labels: tuple[str, ...], number: int) -> str:
    # Proto3 enums are open: a newer sender may use numbers we do not know yet.
    if 0 <= number < len(labels):
        return labels[number]
    return labels[0]

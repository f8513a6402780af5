"""Small look-ups over finished spans and recorded metrics, shared by the tests."""

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import ReadableSpan


def only_span(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    matching = [span for span in spans if span.name == name]
    names = [span.name for span in spans]
    assert len(matching) == 1, f"expected one span {name!r} among {names}"
    return matching[0]


def trace_id_hex(span: ReadableSpan) -> str:
    return format(span.context.trace_id, "032x")


def span_id_hex(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def parent_id_hex(span: ReadableSpan) -> str | None:
    return None if span.parent is None else format(span.parent.span_id, "016x")


def read_metrics(reader: MetricReader) -> dict[str, tuple[Any, list[Any]]]:
    """Each metric the reader collects now: its name, and it with its points."""
    data = reader.get_metrics_data()
    found: dict[str, tuple[Any, list[Any]]] = {}
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = found.setdefault(metric.name, (metric, []))[1]
                points += metric.data.data_points
    return found

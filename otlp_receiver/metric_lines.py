"""Owns the short text form of metric points: one line per point, columns aligned.

A line names the service, the metric and the attributes that tell an HTTP
series apart (method, route or server, status), then a histogram's count and
mean, or a sum's or gauge's value, and the trace id of its newest exemplar: a
request it counted, whose trace shows where that request's time went.
"""

from __future__ import annotations

from collections.abc import Sequence

from otlp_receiver.model import NUMBER_KINDS, MetricPoint

# In reading order; the other attributes are left out to keep a line short.
LABEL_KEYS = (
    "http.request.method",
    "http.route",
    "server.address",
    "server.port",
    "http.response.status_code",
    "error.type",
)


def metric_lines(points: Sequence[MetricPoint]) -> list[str]:
    rows = [_cells(point) for point in points]
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return [
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]


def _cells(point: MetricPoint) -> list[str]:
    label = " ".join(
        str(point.attributes[key]) for key in LABEL_KEYS if key in point.attributes
    )
    if point.kind in NUMBER_KINDS:
        figures = f"value {_quantity(point.value, point.unit)}"
    else:
        mean = point.sum / point.count if point.count else 0.0
        figures = f"count {point.count}  mean {_quantity(mean, point.unit)}"
    trace_id = point.exemplar_trace_id
    return [
        point.service_name or "(no service)",
        point.name,
        label,
        figures,
        f"exemplar → trace {trace_id}" if trace_id else "",
    ]


def _quantity(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.3f} ms"
    # A unit in braces, such as {request}, only names what is counted.
    if not unit or unit.startswith("{"):
        return f"{value:g}"
    return f"{value:g} {unit}"

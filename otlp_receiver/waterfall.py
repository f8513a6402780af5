"""Terminal waterfall view of traces: one line per span, children under parents.

Each trace gets a header (trace id, span count, total time, services) and one
row per span with service, indented span name, kind, a timeline bar scaled to
the whole trace, duration and status. Spans whose parent never arrived are shown
at the top level and marked, because with no collector in between a missing
parent usually means a lost export or a broken context propagation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from otlp_receiver.model import ReceivedSpan, group_by_trace

DEFAULT_BAR_WIDTH = 30
MAX_SERVICE_WIDTH = 24
MAX_NAME_WIDTH = 48
INDENT = "  "
ORPHAN_MARK = "(parent missing)"
CYCLE_MARK = "(parent cycle)"
NO_SERVICE = "(no service)"


@dataclass(frozen=True)
class _Glyphs:
    filled: str
    empty: str
    ellipsis: str


UNICODE_GLYPHS = _Glyphs(filled="█", empty="─", ellipsis="…")
ASCII_GLYPHS = _Glyphs(filled="#", empty=".", ellipsis="...")


@dataclass(frozen=True)
class _Row:
    span: ReceivedSpan
    depth: int
    mark: str


def render_waterfall(
    spans: Iterable[ReceivedSpan], width: int = DEFAULT_BAR_WIDTH, ascii: bool = False
) -> str:
    """Render every trace found in ``spans``, separated by blank lines.

    ``width`` is the number of characters of the timeline bar; ``ascii`` swaps
    the box-drawing characters for ``#`` and ``.``.
    """
    glyphs = ASCII_GLYPHS if ascii else UNICODE_GLYPHS
    traces = group_by_trace(spans)
    if not traces:
        return "(no spans)"
    bar_width = max(width, 1)
    return "\n\n".join(
        _render_trace(trace_id, trace_spans, bar_width, glyphs)
        for trace_id, trace_spans in traces.items()
    )


def _render_trace(
    trace_id: str, spans: Sequence[ReceivedSpan], bar_width: int, glyphs: _Glyphs
) -> str:
    rows = _tree_rows(spans)
    start = min(span.start_ns for span in spans)
    end = max(span.end_ns for span in spans)
    # Guards the bar arithmetic when every span is instantaneous.
    total_ns = max(end - start, 1)
    table = [_header_cells()] + [
        _row_cells(row, start, total_ns, bar_width, glyphs) for row in rows
    ]
    return "\n".join([_trace_header(trace_id, rows, end - start), *_align(table)])


def _trace_header(trace_id: str, rows: Sequence[_Row], total_ns: int) -> str:
    services = list(dict.fromkeys(_service(row.span) for row in rows))
    count = len(rows)
    return (
        f"trace {trace_id}  {count} span{'s' if count != 1 else ''}  "
        f"{_format_ms(max(total_ns, 0))}  services: {', '.join(services)}"
    )


def _header_cells() -> list[str]:
    return ["SERVICE", "SPAN", "KIND", "TIMELINE", "DURATION", "STATUS"]


def _row_cells(
    row: _Row, trace_start: int, total_ns: int, bar_width: int, glyphs: _Glyphs
) -> list[str]:
    span = row.span
    label = INDENT * row.depth + _fit(span.name, MAX_NAME_WIDTH, glyphs)
    if row.mark:
        label = f"{label} {row.mark}"
    status = (
        f"{span.status}: {span.status_message}" if span.status_message else span.status
    )
    return [
        _fit(_service(span), MAX_SERVICE_WIDTH, glyphs),
        label,
        span.kind,
        _bar(span, trace_start, total_ns, bar_width, glyphs),
        _format_ms(span.duration_ns),
        status,
    ]


def _align(table: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    right_aligned = {4}
    lines = []
    for row in table:
        cells = [
            cell.rjust(widths[i]) if i in right_aligned else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _tree_rows(spans: Sequence[ReceivedSpan]) -> list[_Row]:
    """Depth-first rows: top-level spans and siblings ordered by start time."""
    span_ids = {span.span_id for span in spans}
    children: dict[str, list[ReceivedSpan]] = {}
    top_level: list[tuple[ReceivedSpan, str]] = []
    for span in spans:
        if span.parent_span_id is None:
            top_level.append((span, ""))
        elif span.parent_span_id not in span_ids:
            top_level.append((span, ORPHAN_MARK))
        else:
            children.setdefault(span.parent_span_id, []).append(span)

    rows: list[_Row] = []
    placed: set[int] = set()
    for span, mark in sorted(top_level, key=lambda item: item[0].start_ns):
        _place_subtree(span, mark, children, rows, placed)
    # Spans whose parent chain loops never hang below a top-level span.
    for span in _by_start(spans):
        if id(span) not in placed:
            _place_subtree(span, CYCLE_MARK, children, rows, placed)
    return rows


def _place_subtree(
    top: ReceivedSpan,
    mark: str,
    children: dict[str, list[ReceivedSpan]],
    rows: list[_Row],
    placed: set[int],
) -> None:
    # An explicit stack keeps very deep traces clear of the recursion limit.
    stack = [_Row(top, 0, mark)]
    while stack:
        row = stack.pop()
        if id(row.span) in placed:
            continue
        placed.add(id(row.span))
        rows.append(row)
        kids = _by_start(children.get(row.span.span_id, []))
        stack.extend(_Row(kid, row.depth + 1, "") for kid in reversed(kids))


def _by_start(spans: Iterable[ReceivedSpan]) -> list[ReceivedSpan]:
    return sorted(spans, key=lambda span: span.start_ns)


def _bar(
    span: ReceivedSpan, trace_start: int, total_ns: int, width: int, glyphs: _Glyphs
) -> str:
    offset = min((span.start_ns - trace_start) * width // total_ns, width - 1)
    offset = max(offset, 0)
    # Every span gets at least one cell so short spans stay visible.
    length = max(round(span.duration_ns * width / total_ns), 1)
    length = min(length, width - offset)
    return (
        glyphs.empty * offset
        + glyphs.filled * length
        + glyphs.empty * (width - offset - length)
    )


def _service(span: ReceivedSpan) -> str:
    return span.service_name or NO_SERVICE


def _fit(text: str, width: int, glyphs: _Glyphs) -> str:
    if len(text) <= width:
        return text
    return text[: width - len(glyphs.ellipsis)] + glyphs.ellipsis


def _format_ms(duration_ns: int) -> str:
    return f"{duration_ns / 1_000_000:.3f} ms"

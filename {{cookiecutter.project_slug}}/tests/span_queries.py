"""Small look-ups over finished spans, shared by the tests."""

from collections.abc import Sequence

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

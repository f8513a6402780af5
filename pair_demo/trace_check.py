"""What a whole pair trace looks like, and every way a received one falls short.

One call to service_a should leave exactly one trace of five spans, each the
parent of the next::

    service_a  SERVER    GET /service_a
    service_a  INTERNAL    service_a_operation
    service_a  CLIENT        GET                  (requests, carries traceparent)
    service_b  SERVER          GET /service_b     (parent: the CLIENT span)
    service_b  INTERNAL          service_b_operation

:func:`find_problems` returns one readable line per defect, so the demo can
print them and the tests can assert on an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from otlp_receiver import ReceivedSpan


@dataclass(frozen=True)
class ExpectedSpan:
    """A span the chain must contain: which service made it, its kind and name."""

    service: str
    kind: str
    name: str

    def matches(self, span: ReceivedSpan) -> bool:
        return (span.service_name, span.kind, span.name) == (
            self.service,
            self.kind,
            self.name,
        )

    def __str__(self) -> str:
        return f"{self.service} {self.kind} {self.name!r}"


PAIR_CHAIN: tuple[ExpectedSpan, ...] = (
    ExpectedSpan("service_a", "SERVER", "GET /service_a"),
    ExpectedSpan("service_a", "INTERNAL", "service_a_operation"),
    # The requests instrumentation names client spans after the method only.
    ExpectedSpan("service_a", "CLIENT", "GET"),
    ExpectedSpan("service_b", "SERVER", "GET /service_b"),
    ExpectedSpan("service_b", "INTERNAL", "service_b_operation"),
)


def describe(span: ReceivedSpan) -> str:
    service = span.service_name or "(no service)"
    return f"{service} {span.kind} {span.name!r}"


def find_problems(spans: Sequence[ReceivedSpan]) -> list[str]:
    """Every way ``spans`` differ from one whole trace shaped like PAIR_CHAIN."""
    if not spans:
        return ["no spans arrived"]
    problems = []
    trace_ids = list(dict.fromkeys(span.trace_id for span in spans))
    if len(trace_ids) != 1:
        # Several traces from one call mean the context did not cross a hop.
        problems.append(
            f"expected one trace, got {len(trace_ids)}: {', '.join(trace_ids)}"
        )
    if len(spans) != len(PAIR_CHAIN):
        problems.append(f"expected {len(PAIR_CHAIN)} spans, got {len(spans)}")
    span_ids = {span.span_id for span in spans}
    problems += [
        f"{describe(span)} has parent {span.parent_span_id}, which never arrived"
        for span in spans
        if span.parent_span_id is not None and span.parent_span_id not in span_ids
    ]
    roots = [span for span in spans if span.parent_span_id is None]
    if len(roots) != 1:
        listed = ", ".join(describe(span) for span in roots) or "none"
        problems.append(f"expected one root span, got {len(roots)}: {listed}")
    return problems + _chain_problems(spans, roots)


def root_span(spans: Sequence[ReceivedSpan]) -> ReceivedSpan | None:
    """The one span with no parent, or None when there is not exactly one."""
    roots = [span for span in spans if span.parent_span_id is None]
    return roots[0] if len(roots) == 1 else None


def _chain_problems(
    spans: Sequence[ReceivedSpan], roots: Sequence[ReceivedSpan]
) -> list[str]:
    current = next((span for span in roots if PAIR_CHAIN[0].matches(span)), None)
    if current is None:
        return [f"no root span is {PAIR_CHAIN[0]}"]
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        if span.parent_span_id is not None:
            children.setdefault(span.parent_span_id, []).append(span)
    for expected in PAIR_CHAIN[1:]:
        below = children.get(current.span_id, [])
        found = next((span for span in below if expected.matches(span)), None)
        if found is None:
            listed = ", ".join(describe(span) for span in below) or "none"
            return [
                f"{expected} is not a child of {describe(current)} "
                f"(its children: {listed})"
            ]
        current = found
    return []

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
from dataclasses import astuple, dataclass

from otlp_receiver import ReceivedSpan
from otlp_receiver.quiet_traces import open_ends


@dataclass(frozen=True)
class ExpectedSpan:
    """A span the chain must contain: which service made it, its kind and name."""

    service: str
    kind: str
    name: str

    def matches(self, span: ReceivedSpan) -> bool:
        return (span.service_name, span.kind, span.name) == astuple(self)

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
# (service, metric): the request duration each SERVER and CLIENT span above
# records inside itself, so that its exemplar names the trace.
PAIR_DURATIONS = (
    ("service_a", "http.server.request.duration"),
    ("service_a", "http.client.request.duration"),
    ("service_b", "http.server.request.duration"),
)


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
    # A missing parent, or a CLIENT span whose callee sent nothing.
    problems += open_ends(spans)
    roots = [span for span in spans if span.parent_span_id is None]
    if len(roots) != 1:
        listed = ", ".join(span.label for span in roots) or "none"
        problems.append(f"expected one root span, got {len(roots)}: {listed}")
    return problems + _chain_problems(spans, roots)


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
            listed = ", ".join(span.label for span in below) or "none"
            return [
                f"{expected} is not a child of {current.label} (its children: {listed})"
            ]
        current = found
    return []

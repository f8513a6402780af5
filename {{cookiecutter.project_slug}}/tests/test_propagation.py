"""Outgoing trace headers stay within the W3C limits."""

from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from {{ cookiecutter.project_slug }}.propagation import (
    MAX_TRACESTATE_LENGTH,
    TraceStateLimitingPropagator,
    install_limited_propagator,
    limit_tracestate,
)


def test_short_tracestate_is_sent_unchanged():
    assert limit_tracestate("a=1,b=2") == "a=1,b=2"


def test_oversized_members_go_first_then_members_from_the_end():
    big = "big=" + "x" * 200
    members = [f"k{i}={'v' * 40}" for i in range(11)]

    limited = limit_tracestate(",".join(members[:5] + [big] + members[5:]))

    assert "big=" not in limited
    assert len(limited) <= MAX_TRACESTATE_LENGTH
    assert limited.split(",") == members[: len(limited.split(","))]


def test_injected_tracestate_is_trimmed_and_traceparent_kept():
    state = TraceState([(f"key{i}", "v" * 60) for i in range(10)])
    parent = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=state,
    )
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    propagator = TraceStateLimitingPropagator(propagate.get_global_textmap())
    headers: dict[str, str] = {}

    propagator.inject(headers, context=context)

    assert headers["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert len(headers["tracestate"]) <= MAX_TRACESTATE_LENGTH


def test_an_empty_propagator_list_still_gives_the_server_a_context():
    propagator = TraceStateLimitingPropagator(CompositePropagator([]))

    traceparent = f"00-{'a' * 32}-{'b' * 16}-01"

    context = propagator.extract({"traceparent": traceparent})

    assert context is not None
    assert not trace.get_current_span(context).get_span_context().is_valid


def test_installing_twice_wraps_the_global_propagator_once():
    install_limited_propagator()
    first = propagate.get_global_textmap()
    install_limited_propagator()

    assert propagate.get_global_textmap() is first
    assert isinstance(first, TraceStateLimitingPropagator)
    assert not isinstance(first.inner, TraceStateLimitingPropagator)
    assert isinstance(first.inner, TextMapPropagator)

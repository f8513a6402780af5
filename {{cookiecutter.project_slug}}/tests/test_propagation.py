"""Trace headers: outgoing ones within W3C limits, bad incoming ones no log flood."""

import logging

from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from {{ cookiecutter.project_slug }}.propagation import (
    MAX_TRACESTATE_LENGTH,
    TRACE_HEADER_LOGGER,
    HeaderWarningLimiter,
    TraceStateLimitingPropagator,
    install_limited_propagator,
    limit_header_warnings,
    limit_tracestate,
)

TRACEPARENT = f"00-{'a' * 32}-{'b' * 16}-01"


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warning(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(
        TRACE_HEADER_LOGGER, logging.WARNING, __file__, 1, message, args, None
    )


def test_header_warnings_pass_once_a_minute_with_the_count_left_out():
    clock = FakeClock()
    limiter = HeaderWarningLimiter(interval=60, clock=clock)

    first = warning("Member doesn't match the w3c identifiers format %s", "x" * 5000)
    passed = [limiter.filter(first)]
    passed += [limiter.filter(warning("bad %s", n)) for n in range(4)]
    clock.now += 61
    later = warning("bad %s", "again")
    passed.append(limiter.filter(later))

    assert passed == [True, False, False, False, False, True]
    assert len(first.getMessage()) <= 203
    assert first.getMessage().endswith("...")
    assert later.getMessage() == "bad again (4 more like it not logged)"


def test_a_flood_of_malformed_tracestate_headers_logs_one_line(client, caplog):
    # A fresh limiter: an earlier test's warning must not use up this minute.
    header_logger = logging.getLogger(TRACE_HEADER_LOGGER)
    limiters = [f for f in header_logger.filters if isinstance(f, HeaderWarningLimiter)]
    for limiter in limiters:
        header_logger.removeFilter(limiter)
    limit_header_warnings()
    junk = "not a member " * 200

    with caplog.at_level(logging.WARNING, logger=TRACE_HEADER_LOGGER):
        statuses = [
            client.get(
                "/", headers={"traceparent": TRACEPARENT, "tracestate": junk}
            ).status_code
            for _ in range(40)
        ]

    assert statuses == [200] * 40
    (line,) = [r.getMessage() for r in caplog.records if r.name == TRACE_HEADER_LOGGER]
    assert len(line) <= 203

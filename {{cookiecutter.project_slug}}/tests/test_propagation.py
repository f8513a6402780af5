"""Trace headers: read by W3C Trace Context Level 2, sent within 512 characters.

The template's own tests drive a baked service with the W3C corpus and
generated headers; these pin the rules of `propagation.py` one by one.
"""

import logging

import pytest
from opentelemetry import propagate, trace

from {{ cookiecutter.project_slug }}.propagation import (
    Propagators,
    W3CTraceContextPropagator,
    install_propagation,
    limit_tracestate,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
PROPAGATOR = W3CTraceContextPropagator()


def member(key: str, length: int) -> str:
    """A tracestate member `key=vvv...` exactly `length` characters long."""
    return f"{key}={'v' * (length - len(key) - 1)}"


def parent_of(headers: dict[str, str | list[str]]) -> trace.SpanContext:
    carrier = {k: v if isinstance(v, list) else [v] for k, v in headers.items()}
    context = PROPAGATOR.extract(carrier, getter=ListGetter())
    return trace.get_current_span(context).get_span_context()


class ListGetter:
    """Reads a carrier whose values are lists, as ASGI headers repeat fields."""

    def get(self, carrier: dict[str, list[str]], key: str) -> list[str] | None:
        return carrier.get(key)

    def keys(self, carrier: dict[str, list[str]]) -> list[str]:
        return list(carrier)


def sent_on(headers: dict[str, str | list[str]]) -> dict[str, str]:
    """The headers a call made inside a request with `headers` carries."""
    carrier = {k: v if isinstance(v, list) else [v] for k, v in headers.items()}
    context = PROPAGATOR.extract(carrier, getter=ListGetter())
    outgoing: dict[str, str] = {}
    PROPAGATOR.inject(outgoing, context=context)
    return outgoing


def test_a_valid_traceparent_is_the_parent_and_is_sent_on():
    parent = parent_of({"traceparent": TRACEPARENT})

    assert (parent.trace_id, parent.span_id) == (int(TRACE_ID, 16), int(PARENT_ID, 16))
    assert parent.is_remote and parent.trace_flags.sampled
    assert sent_on({"traceparent": TRACEPARENT}) == {"traceparent": TRACEPARENT}


@pytest.mark.parametrize(
    "header",
    [
        [TRACEPARENT, f"00-{'1' * 32}-{'2' * 16}-01"],
        [f"ff-{TRACE_ID}-{PARENT_ID}-01"],
        [f"00-{TRACE_ID}-{PARENT_ID}-01-extra"],
        [f"00-{'0' * 32}-{PARENT_ID}-01"],
        [f"00-{TRACE_ID.upper()}-{PARENT_ID}-01"],
    ],
    ids=["two-headers", "version-ff", "00-with-more", "zero-trace-id", "uppercase"],
)
def test_an_invalid_traceparent_gives_no_parent(header):
    assert not parent_of({"traceparent": header}).is_valid


def test_a_later_version_with_more_fields_is_read_by_its_first_four():
    parent = parent_of({"traceparent": f"cc-{TRACE_ID}-{PARENT_ID}-01-what-ever"})

    assert parent.trace_id == int(TRACE_ID, 16)


def test_tracestate_keeps_valid_members_the_first_of_a_key_and_at_most_32():
    members = ["a=1", "Bad=2", "a=3", *(f"k{i}=v" for i in range(40))]

    sent = sent_on({"traceparent": TRACEPARENT, "tracestate": ",".join(members)})

    assert sent["tracestate"] == ",".join(["a=1", *(f"k{i}=v" for i in range(31))])


def test_tracestate_fields_are_combined_and_a_level_2_key_kept():
    state = ["1st@vendor=x", "b=2,  ,c=3"]

    sent = sent_on({"traceparent": TRACEPARENT, "tracestate": state})

    assert sent["tracestate"] == "1st@vendor=x,b=2,c=3"


def test_nothing_a_caller_sends_is_logged(caplog):
    with caplog.at_level(logging.DEBUG):
        sent_on({"traceparent": TRACEPARENT, "tracestate": "not a member " * 200})

    assert caplog.records == []


def test_a_tracestate_of_512_characters_is_kept_and_one_more_is_trimmed():
    members = [member(f"k{i}", 50) for i in range(9)] + [member("last", 53)]
    assert len(",".join(members)) == 512

    assert limit_tracestate(list(members)) == ",".join(members)
    longer = [*members[:-1], member("last", 54)]
    assert limit_tracestate(longer) == ",".join(members[:-1])


def test_members_over_128_characters_go_first_then_members_from_the_end():
    small = [member(f"k{i:02}", 50) for i in range(12)]
    over, at_limit = member("over", 129), member("atlimit", 128)
    # Without the 129-character member the rest is 12 * 50 + 128 + 12 commas,
    # 740 characters: then five small members go from the end to fit in 512.

    limited = limit_tracestate([*small[:5], over, at_limit, *small[5:]])

    assert limited == ",".join([*small[:5], at_limit, *small[5:7]])
    assert len(limited) == 485


def test_the_service_installs_w3c_trace_context_and_baggage_by_default():
    install_propagation()

    installed = propagate.get_global_textmap()
    assert isinstance(installed, Propagators)
    assert {"traceparent", "tracestate", "baggage"} <= installed.fields


@pytest.fixture
def default_propagation_after():
    yield
    install_propagation()


def test_no_propagators_still_give_the_server_a_context(
    monkeypatch, default_propagation_after
):
    monkeypatch.setenv("OTEL_PROPAGATORS", "none")
    install_propagation()

    context = propagate.extract({"traceparent": TRACEPARENT})

    assert context is not None
    assert not trace.get_current_span(context).get_span_context().is_valid

"""Trace headers: read by W3C Trace Context Level 2, sent within 512 characters.

The template's own tests drive a baked service with the W3C corpus and
generated headers; these pin the rules of `propagation.py` one by one.
"""

import logging

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as context_api
from opentelemetry.propagators.textmap import Getter

from {{ cookiecutter.project_slug }}.propagation import (
    Propagators,
    W3CTraceContextPropagator,
    install_propagation,
)
from {{ cookiecutter.project_slug }}.settings import Settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
PROPAGATOR = W3CTraceContextPropagator()


def member(key: str, length: int) -> str:
    """A tracestate member `key=vvv...` exactly `length` characters long."""
    return f"{key}={'v' * (length - len(key) - 1)}"


def parent_of(headers: dict[str, str | list[str]]) -> trace.SpanContext:
    """The parent a request with `headers` (a list for a repeated field) gets."""
    return trace.get_current_span(PROPAGATOR.extract(headers)).get_span_context()


def sent_on(headers: dict[str, str | list[str]]) -> dict[str, str]:
    """The headers a call made inside a request with `headers` carries."""
    outgoing: dict[str, str] = {}
    PROPAGATOR.inject(outgoing, context=PROPAGATOR.extract(headers))
    return outgoing


def sent_tracestate(members: list[str]) -> str | None:
    """The `tracestate` sent on after one carrying `members` came in."""
    headers = {"traceparent": TRACEPARENT, "tracestate": ",".join(members)}
    return sent_on(headers).get("tracestate")


@pytest.mark.parametrize(
    "header", [TRACEPARENT, f"cc-{TRACE_ID}-{PARENT_ID}-01-what-ever"]
)
def test_a_valid_traceparent_is_the_parent_and_is_sent_on_as_version_00(header):
    parent = parent_of({"traceparent": header})

    assert (parent.trace_id, parent.span_id) == (int(TRACE_ID, 16), int(PARENT_ID, 16))
    assert parent.is_remote and parent.trace_flags.sampled
    assert sent_on({"traceparent": header}) == {"traceparent": TRACEPARENT}


@pytest.mark.parametrize(
    "header",
    [
        [TRACEPARENT, f"00-{'1' * 32}-{'2' * 16}-01"],
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        # Only spaces and tabs around it are optional whitespace.
        f"\x0c{TRACEPARENT}\x0b",
        f"X{TRACEPARENT}X",
    ],
    ids=[
        "two-headers",
        "version-ff",
        "00-with-more",
        "zero-trace-id",
        "zero-parent-id",
        "uppercase",
        "form-feed-around",
        "letters-around",
    ],
)
def test_an_invalid_traceparent_gives_no_parent(header):
    assert not parent_of({"traceparent": header}).is_valid
    assert sent_on({"traceparent": header, "tracestate": "a=1"}) == {}


def test_the_flags_are_read_as_hex_and_sent_on():
    """f0 is 240: its sampled bit (the lowest) is 0."""
    header = f"00-{TRACE_ID}-{PARENT_ID}-f0"

    assert parent_of({"traceparent": header}).trace_flags == 0xF0
    assert sent_on({"traceparent": header}) == {"traceparent": header}


def test_extract_adds_the_parent_to_the_context_it_is_given():
    given = context_api.set_value("kept", "yes")

    for headers in ({"traceparent": TRACEPARENT}, {"traceparent": "invalid"}):
        extracted = PROPAGATOR.extract(headers, context=given)
        assert context_api.get_value("kept", extracted) == "yes"
    # Given none, the root context: never the one current where extract runs.
    token = context_api.attach(given)
    try:
        extracted = PROPAGATOR.extract({"traceparent": TRACEPARENT})
    finally:
        context_api.detach(token)
    assert context_api.get_value("kept", extracted) is None


class PairsGetter(Getter[list]):
    """Reads headers from a list of (name, value) pairs."""

    def get(self, carrier: list, key: str) -> list[str] | None:
        return [value for name, value in carrier if name == key] or None

    def keys(self, carrier: list) -> list[str]:
        return [name for name, _ in carrier]


def test_the_installed_propagators_use_the_getter_they_are_given():
    propagators = Propagators([W3CTraceContextPropagator()])

    context = propagators.extract([("traceparent", TRACEPARENT)], getter=PairsGetter())

    assert trace.get_current_span(context).get_span_context().span_id == int(
        PARENT_ID, 16
    )


@pytest.mark.parametrize(
    ("tracestate", "sent"),
    [
        # Level 2 keys that Level 1 refuses (a digit first, @ anywhere), fields
        # combined, the first of a duplicated key, empty members skipped.
        (["1st=x,v@a@b=y", "b=2,  ,c=3", " \tb=4\t"], "1st=x,v@a@b=y,b=2,c=3"),
        # Only spaces and tabs are trimmed: an X at either end is the member's.
        ("a=vX, \tXb=1", None),
        ("a=vX,b=Xv", "a=vX,b=Xv"),
        (
            ",".join(f"k{i}=v" for i in range(32)),
            ",".join(f"k{i}=v" for i in range(32)),
        ),
        (f"{'k' * 256}=v,a=1", f"{'k' * 256}=v,a=1"),
        # Any invalid member, or more than 32, and the whole tracestate goes.
        (
            [
                ",".join(f"k{i}=v" for i in range(20)),
                ",".join(f"m{i}=v" for i in range(13)),
            ],
            None,
        ),
        ("a=1,Bad=2", None),
        ("a=1,@foo=1", None),
        ("a=1,foo=bar=baz", None),
        ("a=1,foo=", None),
        (f"a=1,{'k' * 257}=v", None),
        ("a=1,k\u0663=2", None),
        # OWS is spaces and tabs: a vertical tab makes the member invalid.
        ("a=1,\x0bb=2", None),
        ("not a member " * 200, None),
    ],
    ids=[
        "level-2-keys-fields-combined-first-of-a-key",
        "uppercase-x-first-in-a-key",
        "uppercase-x-around-values",
        "32-members-kept",
        "key-of-256-characters-kept",
        "33-members-across-two-fields",
        "uppercase-key",
        "key-starting-with-at",
        "equals-in-value",
        "empty-value",
        "key-of-257-characters",
        "non-ascii-digit-in-key",
        "vertical-tab-is-not-ows",
        "none-valid",
    ],
)
def test_tracestate_is_kept_whole_or_discarded_whole_and_nothing_is_logged(
    caplog, tracestate, sent
):
    """As the W3C test suite expects at its strictest: the parent is continued
    either way."""
    with caplog.at_level(logging.DEBUG):
        headers = sent_on({"traceparent": TRACEPARENT, "tracestate": tracestate})

    assert headers["traceparent"] == TRACEPARENT
    assert headers.get("tracestate") == sent
    assert caplog.records == []  # nothing a caller sends is logged


@pytest.mark.parametrize("digit", ["\u0663", "\uff11"])
def test_a_traceparent_with_a_non_ascii_digit_gives_no_parent(digit):
    """HTTP/1.1 cannot carry one, other carriers can."""
    header = f"00-{TRACE_ID[:-1]}{digit}-{PARENT_ID}-01"

    assert not parent_of({"traceparent": header}).is_valid


def test_a_hostile_baggage_header_is_dropped_and_nothing_of_it_is_logged(caplog):
    """The SDK's parser would log the member as sent: 60 KB, or a forged line."""
    forged = '"}{"level": "ERROR"'
    carriers = [{"baggage": f"k={'v' * 60_000}"}, {"baggage": f"a=1,{forged}"}]

    install_propagation(Settings())
    with caplog.at_level(logging.DEBUG):
        found = [baggage.get_all(propagate.extract(carrier)) for carrier in carriers]

    assert found == [{}, {"a": "1"}]  # what W3C Baggage keeps

    assert caplog.records == []


def test_a_tracestate_of_512_characters_is_kept_and_one_more_is_trimmed():
    members = [member(f"k{i}", 50) for i in range(9)] + [member("last", 53)]
    assert len(",".join(members)) == 512

    assert sent_tracestate(members) == ",".join(members)
    longer = [*members[:-1], member("last", 54)]
    assert sent_tracestate(longer) == ",".join(members[:-1])


def test_members_over_128_characters_go_first_then_members_from_the_end():
    small = [member(f"k{i:02}", 50) for i in range(12)]
    over, at_limit = member("over", 129), member("atlimit", 128)
    # Without the 129-character member the rest is 12 * 50 + 128 + 12 commas,
    # 740 characters: then five small members go from the end to fit in 512.

    limited = sent_tracestate([*small[:5], over, at_limit, *small[5:]])

    assert limited == ",".join([*small[:5], at_limit, *small[5:7]])
    assert len(limited) == 485


@pytest.fixture
def default_propagation_after():
    yield
    install_propagation(Settings())


@pytest.mark.parametrize(
    ("propagators", "fields"),
    [(None, {"traceparent", "tracestate", "baggage"}), ("none", set())],
)
def test_tracecontext_and_baggage_by_default_and_none_still_gives_a_context(
    monkeypatch, default_propagation_after, propagators, fields
):
    if propagators is not None:
        monkeypatch.setenv("OTEL_PROPAGATORS", propagators)
    install_propagation(Settings())

    installed = propagate.get_global_textmap()
    context = propagate.extract({"traceparent": TRACEPARENT})

    assert isinstance(installed, Propagators)
    assert installed.fields == fields
    # With none, still a context: FastAPI's telemetry would fail on None.
    assert context is not None
    assert trace.get_current_span(context).get_span_context().is_valid == bool(fields)


def test_install_loads_only_propagators_named_in_their_own_group(
    default_propagation_after,
):
    """`random` names an id generator's entry point, not a propagator's."""
    unchecked = Settings.model_construct(propagators=("random",))

    with pytest.raises(ValueError):
        install_propagation(unchecked)

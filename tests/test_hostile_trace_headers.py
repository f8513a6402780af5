"""Hostile trace headers: never a 5xx, an invalid parent never adopted, a valid one
always, and what goes downstream within the W3C limits.

A service with the client stub is baked once and driven in-process (its own
provider, an in-memory exporter) against a real HTTP server on loopback that
plays the downstream and records the headers it receives.
"""

import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from loopback_traffic import StandInDownstream
from w3c_trace_context import tracestate_problems, valid_parent

SLUG = "header_probe"
VALID_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID_PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID}-01"

INVALID_TRACEPARENTS = {
    "version-ff": f"ff-{VALID_TRACE_ID}-{VALID_PARENT_ID}-01",
    "version-not-hex": f"0g-{VALID_TRACE_ID}-{VALID_PARENT_ID}-01",
    "version-00-extra-field": f"{VALID}-extra",
    "all-zero-trace-id": f"00-{'0' * 32}-{VALID_PARENT_ID}-01",
    "all-zero-parent-id": f"00-{VALID_TRACE_ID}-{'0' * 16}-01",
    "short-trace-id": f"00-{VALID_TRACE_ID[:-1]}-{VALID_PARENT_ID}-01",
    "long-trace-id": f"00-{VALID_TRACE_ID}0-{VALID_PARENT_ID}-01",
    "short-parent-id": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID[:-1]}-01",
    "uppercase-trace-id": f"00-{VALID_TRACE_ID.upper()}-{VALID_PARENT_ID}-01",
    "uppercase-parent-id": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID.upper()}-01",
    "flags-not-hex": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID}-zz",
    "flags-one-digit": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID}-1",
    "flags-three-digits": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID}-011",
    "underscores": f"00_{VALID_TRACE_ID}_{VALID_PARENT_ID}_01",
    "missing-field": f"00-{VALID_TRACE_ID}-01",
    "empty": "",
    "garbage": "not-a-traceparent",
    "future-version-bad-separator": f"01-{VALID_TRACE_ID}-{VALID_PARENT_ID}-01x",
}
VALID_TRACEPARENTS = {
    "sampled": VALID,
    "not-sampled": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID}-00",
    "unknown-flags": f"00-{VALID_TRACE_ID}-{VALID_PARENT_ID}-ff",
    "future-version-with-extra-fields": f"cc-{VALID_TRACE_ID}-{VALID_PARENT_ID}-01-x-y",
    "surrounding-whitespace": f" {VALID}\t",
}
HOSTILE_TRACESTATES = {
    "33-members": ",".join(f"k{i}=v{i}" for i in range(33)),
    "over-512-chars": ",".join(f"key{i}={'v' * 60}" for i in range(10)),
    "bad-key": "Upper=1,ok=2",
    "key-with-space": "bad key=1",
    "non-ascii": "k=caf\xe9",
    "empty-members": ",,,",
    "duplicate-keys": "k=1,k=2",
    "equals-in-value": "k=a=b",
}


@pytest.fixture(scope="module")
def downstream() -> Iterator[StandInDownstream]:
    with StandInDownstream() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def service(cookies_session, downstream):
    """(client, exporter, received headers) for a baked service with the client."""
    result = cookies_session.bake(
        extra_context={"project_slug": SLUG, "include_downstream_client": True}
    )
    assert result.exit_code == 0, result.exception
    sys.path.insert(0, str(result.project_path / "src"))
    try:
        from header_probe.app import create_app
        from header_probe.settings import Settings
        from header_probe.telemetry import build_resource

        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=build_resource())
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        app = create_app(Settings(SERVICE_DOWNSTREAM_URL=downstream.url), provider)
        with TestClient(app) as client:
            yield client, exporter, downstream.received
    finally:
        sys.path.remove(str(result.project_path / "src"))


def call(service, traceparent: str, tracestate: str | None = None):
    """Call the example route; return (status, server span, downstream headers)."""
    headers = [("traceparent", traceparent)]
    if tracestate is not None:
        headers.append(("tracestate", tracestate))
    return call_with(service, headers)


def call_with(service, headers: list[tuple[str, str]]):
    """`call` with the request's trace headers as given, repeated ones included."""
    client, exporter, received = service
    exporter.clear()
    received.clear()
    encoded = [(name, value.encode("latin-1")) for name, value in headers]
    response = client.get(f"/{SLUG}", headers=encoded)
    servers = [s for s in exporter.get_finished_spans() if s.name == f"GET /{SLUG}"]
    assert len(servers) <= 1
    server = servers[0] if servers else None
    return response.status_code, server, (received[0] if received else {})


def adopted(span) -> tuple[str, str] | None:
    if span.parent is None:
        return None
    return format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")


def assert_follows_the_w3c_rules(header: str, server, downstream_headers) -> None:
    """An invalid parent starts a new trace; a valid one is continued."""
    expected = valid_parent(header)
    outgoing_trace_id = downstream_headers["traceparent"].split("-")[1]
    if expected is None:
        assert server is not None and adopted(server) is None
        assert outgoing_trace_id == format(server.context.trace_id, "032x")
        return
    assert outgoing_trace_id == expected[0]
    sampled = int(header.strip(" \t").split("-")[3], 16) & 0x01
    if sampled:
        assert adopted(server) == expected
    else:
        assert server is None, "a parent that was not sampled is not recorded"


def assert_downstream_headers_comply(headers: dict[str, str]) -> None:
    outgoing = headers["traceparent"]
    assert len(outgoing) == 55 and valid_parent(outgoing) is not None, outgoing
    assert tracestate_problems(headers.get("tracestate", "")) == []


@pytest.mark.parametrize(
    "header", INVALID_TRACEPARENTS.values(), ids=INVALID_TRACEPARENTS
)
def test_invalid_traceparent_is_never_adopted(service, header):
    status, server, downstream_headers = call(service, header)

    assert status < 500
    assert adopted(server) is None
    assert format(server.context.trace_id, "032x") != VALID_TRACE_ID
    assert_follows_the_w3c_rules(header, server, downstream_headers)
    assert_downstream_headers_comply(downstream_headers)


@pytest.mark.parametrize("header", VALID_TRACEPARENTS.values(), ids=VALID_TRACEPARENTS)
def test_valid_traceparent_is_always_adopted(service, header):
    status, server, downstream_headers = call(service, header)

    assert status == 200
    assert downstream_headers["traceparent"].split("-")[1] == VALID_TRACE_ID
    assert_follows_the_w3c_rules(header, server, downstream_headers)
    assert_downstream_headers_comply(downstream_headers)


@pytest.mark.parametrize("state", HOSTILE_TRACESTATES.values(), ids=HOSTILE_TRACESTATES)
def test_hostile_tracestate_keeps_the_parent_and_within_limits(service, state):
    status, server, downstream_headers = call(service, VALID, state)

    assert status == 200
    assert adopted(server) == (VALID_TRACE_ID, VALID_PARENT_ID)
    assert_downstream_headers_comply(downstream_headers)


HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120
)
HEX = "0123456789abcdef"


def traceparent_like():
    """Mostly-plausible traceparents with one thing wrong, or right, at random."""

    def hex_field(size: int):
        return st.text(alphabet=HEX + "ABCDEFxz-", min_size=size - 1, max_size=size + 1)

    parts = st.tuples(hex_field(2), hex_field(32), hex_field(16), hex_field(2))
    return st.one_of(
        HEADER_TEXT,
        parts.map("-".join),
        st.tuples(parts.map("-".join), HEADER_TEXT).map("-".join),
    )


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(header=traceparent_like(), state=st.one_of(st.none(), HEADER_TEXT))
def test_generated_headers_follow_the_w3c_rules(service, header, state):
    status, server, downstream_headers = call(service, header, state)

    assert status < 500
    assert_follows_the_w3c_rules(header, server, downstream_headers)
    assert_downstream_headers_comply(downstream_headers)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    trace_id=st.text(alphabet=HEX, min_size=32, max_size=32),
    parent_id=st.text(alphabet=HEX, min_size=16, max_size=16),
    flags=st.text(alphabet=HEX, min_size=2, max_size=2),
)
def test_generated_valid_traceparents_are_adopted(service, trace_id, parent_id, flags):
    header = f"00-{trace_id}-{parent_id}-{flags}"

    status, server, downstream_headers = call(service, header)

    assert status == 200
    assert_follows_the_w3c_rules(header, server, downstream_headers)


# The rules below are quoted from W3C Trace Context Level 2,
# https://www.w3.org/TR/trace-context-2/ (sections 3.2 and 3.3).


def test_two_traceparent_headers_start_a_new_trace(service):
    """Two `traceparent` fields on one request leave no single parent to trust:
    as the W3C test suite expects, a new trace-id is generated."""
    other = f"00-{'1' * 32}-{'2' * 16}-01"

    status, server, downstream_headers = call_with(
        service, [("traceparent", VALID), ("traceparent", other)]
    )

    assert status == 200
    assert adopted(server) is None
    new_trace_id = format(server.context.trace_id, "032x")
    assert new_trace_id not in (VALID_TRACE_ID, "1" * 32)
    assert downstream_headers["traceparent"].split("-")[1] == new_trace_id


def test_tracestate_keeps_the_first_value_of_a_duplicated_key(service):
    """ "Only one entry per key is allowed": the API's propagator drops the whole
    header; keeping the first entry (the caller's most recent position) loses
    nothing else."""
    status, _, downstream_headers = call(service, VALID, "a=1,b=2,a=3,c=4")

    assert status == 200
    assert downstream_headers["tracestate"] == "a=1,b=2,c=4"


@pytest.mark.parametrize(
    "key",
    [
        "tenant@system",
        "0tenant@vendor",
        "1st-vendor",
        "a@b@c",
        "k" + "x" * 255,
        "t" * 241 + "@" + "s" * 14,
    ],
    ids=[
        "multi-tenant",
        "tenant-digit-first",
        "digit-first",
        "at-signs",
        "256",
        "256-tenant",
    ],
)
def test_tracestate_keys_of_the_level_2_grammar_are_sent_on(service, key):
    """key = ( lcalpha / DIGIT ) 0*255 ( keychar ); keychar = lcalpha / DIGIT /
    "_" / "-" / "*" / "/" / "@": "up to 256 characters"."""
    status, _, downstream_headers = call(service, VALID, f"{key}=v,ok=1")

    assert status == 200
    assert downstream_headers["tracestate"] == f"{key}=v,ok=1"


@pytest.mark.parametrize(
    "member",
    [
        "k" + "x" * 256 + "=v",
        "Upper=v",
        "_under=v",
        "@foo=1",
        "sp ace=v",
        "foo=bar=baz",
        "foo=",
        "k=caf\xe9",
    ],
    ids=[
        "key-257",
        "uppercase",
        "underscore-first",
        "at-first",
        "space",
        "equals-in-value",
        "empty-value",
        "non-ascii-value",
    ],
)
def test_one_member_outside_the_grammar_discards_the_whole_tracestate(service, member):
    """ "If the vendor failed to parse tracestate, it MUST NOT attempt to parse
    tracestate" ... may discard the whole of it: what the W3C test suite expects
    at its default, strictest level. The parent is still continued."""
    status, server, downstream_headers = call(service, VALID, f"ok=1,{member},b=2")

    assert status == 200
    assert adopted(server) == (VALID_TRACE_ID, VALID_PARENT_ID)
    assert "tracestate" not in downstream_headers


def test_tracestate_of_32_members_is_kept_and_33_over_several_fields_discarded(
    service,
):
    """ "There can be a maximum of 32 list-members in a list"."""
    members = [f"k{i}=v" for i in range(33)]

    _, _, kept = call(service, VALID, ",".join(members[:32]))
    status, server, discarded = call_with(
        service,
        [
            ("traceparent", VALID),
            ("tracestate", ",".join(members[:20])),
            ("tracestate", ",".join(members[20:])),
        ],
    )

    assert kept["tracestate"] == ",".join(members[:32])
    assert status == 200
    assert adopted(server) == (VALID_TRACE_ID, VALID_PARENT_ID)
    assert "tracestate" not in discarded


def test_tracestate_split_over_several_fields_is_combined_in_order(service):
    """ "When receiving multiple tracestate header fields, they MUST be combined
    into a single header"."""
    status, _, downstream_headers = call_with(
        service,
        [("traceparent", VALID), ("tracestate", "a=1"), ("tracestate", "b=2, ,c=3")],
    )

    assert status == 200
    assert downstream_headers["tracestate"] == "a=1,b=2,c=3"


def test_tracestate_is_not_read_when_the_traceparent_is_invalid(service):
    """ "If the vendor failed to parse traceparent, it MUST NOT attempt to parse
    tracestate"."""
    _, _, downstream_headers = call(service, INVALID_TRACEPARENTS["garbage"], "a=1")

    assert "tracestate" not in downstream_headers

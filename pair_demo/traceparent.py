"""The W3C ``traceparent`` header that joined the two services, read from spans.

service_a's requests instrumentation sends ``traceparent:
00-<trace id>-<id of its CLIENT span>-<flags>``; service_b makes its SERVER
span a child of that id. So the header can be rebuilt from what the receiver
got, without touching either service: the SERVER span whose parent is a CLIENT
span of another service names both halves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from otlp_receiver import ReceivedSpan

VERSION = "00"
# Only sampled spans are exported, so a header that led to exported spans on
# both sides carried the sampled flag.
SAMPLED_FLAGS = "01"


@dataclass(frozen=True)
class CrossedHeader:
    """The header and the two spans on either side of the wire."""

    header: str
    client: ReceivedSpan
    server: ReceivedSpan


def crossed_header(spans: Sequence[ReceivedSpan]) -> CrossedHeader | None:
    """The first client-to-server hop between two services, or None."""
    by_id = {span.span_id: span for span in spans}
    for server in sorted(spans, key=lambda span: span.start_ns):
        client = by_id.get(server.parent_span_id or "")
        if (
            server.kind == "SERVER"
            and client is not None
            and client.kind == "CLIENT"
            and client.service_name != server.service_name
        ):
            header = f"{VERSION}-{server.trace_id}-{client.span_id}-{SAMPLED_FLAGS}"
            return CrossedHeader(header=header, client=client, server=server)
    return None

"""Owns what must never leave the service: credentials and query values.

Tokens, e-mail addresses and session ids travel in query strings and in a URL's
`user:password@`, and exception messages quote URLs (`requests`' do). A URL is
redacted as a URL (`redact_url`); other text is scrubbed (`scrub`) where it
leaves: every span here, every log line (logs.py), the outage lines
(export_health.py). Query keys stay, for debugging. Bodies, `Authorization` and
cookie headers are never recorded to begin with.
"""

import re
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SynchronousMultiSpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Status

REDACTED = "REDACTED"
URL_ATTRIBUTES = ("url.full", "url.query", "http.url", "http.target")
# In text, `user:password@` (up to the last @): after `://`, or at the start of
# a word, as gRPC's messages name their target and as an e-mail's name goes.
# Neither class holds a character its start may follow: linear time.
USERINFO = re.compile(
    r"""(?<=://)[^\s/?#'"<>\[\]]+@|(?<![^\s'"(<\[=,])[^\s/?#'"<>\[\](,&=]+@"""
)
# In text, the value of each `key=value` after `?`, `&` or `#`, up to the end of
# its URL, not the `).` of the sentence the URL ends.
QUERY_VALUE = re.compile(
    r"""(?<=[?&#])([^\s=&#?'"<>]+=)[^\s&#'"<>]*?(?=[).,;\]]{0,3}(?:[\s&#'"<>]|$))"""
)


def scrub(text: str) -> str:
    """`text` with every URL's user:password and query values replaced."""
    if "@" in text:
        text = USERINFO.sub(f"{REDACTED}@", text)
    if "=" in text:
        text = QUERY_VALUE.sub(rf"\g<1>{REDACTED}", text)
    return text


def redact_query(query: str) -> str:
    """Each `key=value` of a query (or fragment) with its value replaced."""
    pairs = query.split("&")
    return "&".join(
        f"{p.partition('=')[0]}={REDACTED}" if "=" in p else p for p in pairs
    )


def redact_url(url: str) -> str:
    """The URL, read as one, with its user:password and query values replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL after all (an unclosed `[`)
        return scrub(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(
            netloc=f"{REDACTED}@{host}" if "@" in parts.netloc else host,
            query=redact_query(parts.query),
            fragment=redact_query(parts.fragment),
        )
    )


def scrubbed_event(event: Event) -> Event:
    attributes = {
        key: scrub(value) if isinstance(value, str) else value
        for key, value in (event.attributes or {}).items()
    }
    return Event(event.name, attributes, event.timestamp)


class RedactingSpanProcessor(SynchronousMultiSpanProcessor):
    """The provider's processors behind the redaction: every processor added to
    the provider, an exporter's or a test's, sees only redacted spans."""

    def on_end(self, span: ReadableSpan) -> None:
        # `end()` builds this ReadableSpan for the processors alone. The SDK has
        # no public way to change it, and a new one would lose the drop counts.
        attributes = span.attributes or {}
        redacted = {
            key: (redact_query if key == "url.query" else redact_url)(value)
            for key in URL_ATTRIBUTES
            if isinstance(value := attributes.get(key), str)
        }
        if redacted and redacted.items() - attributes.items():
            rebuilt = BoundedAttributes(None, {**attributes, **redacted})
            rebuilt.dropped = span.dropped_attributes
            span._attributes = rebuilt
        if span.events:
            events = BoundedList.from_seq(None, map(scrubbed_event, span.events))
            events.dropped = span.dropped_events
            span._events = events
        if description := span.status.description:
            span._status = Status(span.status.status_code, scrub(description))
        super().on_end(span)

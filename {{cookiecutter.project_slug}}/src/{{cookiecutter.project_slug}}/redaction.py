"""Owns what must never leave the service: credentials and query values.

Tokens, e-mail addresses and session ids travel in query strings and in a URL's
`user:password@`, and exception messages quote URLs (`requests`' do). `scrub`
replaces both in any text, keeping query keys for debugging: on every span here,
in every log line (logs.py) and in the exporter's words (export_health.py).
Bodies, `Authorization` and cookie headers are never recorded to begin with.
"""

import re

from opentelemetry.context import Context
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    Span,
    SynchronousMultiSpanProcessor,
)
from opentelemetry.trace import Status

REDACTED = "REDACTED"
URL_ATTRIBUTES = ("url.full", "url.query", "http.url", "http.target")
# `user:password@` (up to the last @) after `://`; or, without `&` and `=`, at
# the start of a word: gRPC's messages name the target without a scheme, and an
# e-mail's name goes too.
USERINFO = re.compile(
    r"""(?<=://)[^\s/?#'"<>\[\]]+@|(?<![^\s'"(<\[=,])[^\s/?#'"<>\[\]&=]+@"""
)
# The value of each `key=value` after a `?`, an `&` or at the very start; up
# to the end of the URL, not the `).` of the sentence it ends.
QUERY_VALUE = re.compile(
    r"""(?<![^?&])([^\s=&#'"<>]+=)[^\s&#'"<>]*?(?=[).,;\]]{0,3}(?:[\s&#'"<>]|$))"""
)


def scrub(text: str) -> str:
    """`text` with every URL's user:password and query values replaced."""
    if "@" in text:
        text = USERINFO.sub(f"{REDACTED}@", text)
    if "=" in text:
        text = QUERY_VALUE.sub(rf"\g<1>{REDACTED}", text)
    return text


def scrubbed_span(span: ReadableSpan) -> ReadableSpan:
    """The span, with its events' text and status description scrubbed: where
    an exception's message and stacktrace go."""
    description = span.status.description
    if not span.events and not description:
        return span
    events = [
        Event(
            event.name,
            {
                key: scrub(value) if isinstance(value, str) else value
                for key, value in (event.attributes or {}).items()
            },
            event.timestamp,
        )
        for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code, scrub(description))
        if description
        else span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanProcessor(SynchronousMultiSpanProcessor):
    """The provider's processors behind the redaction: every processor added to
    the provider, an exporter's or a test's, sees only redacted spans."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        for key in URL_ATTRIBUTES:
            if isinstance(value := attributes.get(key), str):
                span.set_attribute(key, scrub(value))
        super().on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        super().on_end(scrubbed_span(span))

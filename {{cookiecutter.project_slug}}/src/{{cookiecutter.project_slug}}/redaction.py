"""Owns what spans must not carry: query-string values.

FastAPI's server spans record `url.query` with only a few cloud-signature
parameters redacted, and a client span's URL can carry a query too. Tokens,
e-mail addresses and session ids travel in query strings, so the values are
replaced before any exporter sees the span; the keys stay, for debugging.
Request and response bodies, `Authorization` and cookie headers are never
recorded by FastAPI's telemetry or the requests instrumentation to begin with.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

REDACTED = "REDACTED"
QUERY_ATTRIBUTES = ("url.query",)
URL_ATTRIBUTES = ("url.full", "http.url", "http.target")


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(key, REDACTED) for key, _ in pairs], safe=REDACTED)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


class QueryRedactingSpanProcessor(SpanProcessor):
    """Replaces query values on every span as it starts, before export sees it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        for key in QUERY_ATTRIBUTES:
            value = attributes.get(key)
            if isinstance(value, str) and value:
                span.set_attribute(key, redact_query(value))
        for key in URL_ATTRIBUTES:
            value = attributes.get(key)
            if isinstance(value, str) and "?" in value:
                span.set_attribute(key, redact_url(value))

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

"""Owns what spans must not carry: query-string values.

FastAPI's server spans record `url.query` with only a few cloud-signature
parameters redacted, and a client span's URL can carry a query too. Tokens,
e-mail addresses and session ids travel in query strings, so the values are
replaced before any exporter sees the span; the keys stay, for debugging.
Bodies, `Authorization` and cookie headers are never recorded to begin with.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

REDACTED = "REDACTED"
QUERY_ATTRIBUTES = ("url.query",)
URL_ATTRIBUTES = ("url.full", "http.url", "http.target")


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(key, REDACTED) for key, _ in pairs])


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


class QueryRedactingSpanProcessor(SpanProcessor):
    """Replaces query values on every span as it starts, before export sees it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        for key in QUERY_ATTRIBUTES:
            if isinstance(value := attributes.get(key), str):
                span.set_attribute(key, redact_query(value))
        for key in URL_ATTRIBUTES:
            if isinstance(value := attributes.get(key), str) and "?" in value:
                span.set_attribute(key, redact_url(value))

"""No secrets on spans: query values and credentials redacted wherever text carries
them; bodies, `Authorization` and cookies absent."""

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.redaction import scrub, scrubbed_span

from span_queries import only_span

SECRETS = ("s3cr3t-token", "alice@example.com", "session-cookie-value", "p4ssw0rd")


def test_server_span_carries_no_secret_from_the_request(client, span_exporter):
    client.request(
        "GET",
        "/?token=s3cr3t-token&email=alice@example.com",
        headers={
            "Authorization": "Bearer p4ssw0rd",
            "Cookie": "session=session-cookie-value",
        },
        content=b'{"password": "p4ssw0rd"}',
    )

    server = only_span(span_exporter.get_finished_spans(), "GET /")
    recorded = repr(dict(server.attributes)) + repr(server.events)
    assert server.attributes["url.query"] == "token=REDACTED&email=REDACTED"
    for secret in SECRETS:
        assert secret not in recorded


def test_every_url_attribute_a_span_starts_with_keeps_its_keys_and_loses_the_values(
    tracer_provider, span_exporter
):
    """The older semantic conventions' names too, as other instrumentations set."""
    tracer = tracer_provider.get_tracer("test")
    tracer.start_span(
        "with queries",
        attributes={
            "url.full": "http://h:1/p?token=s3cr3t-token",
            "url.query": "token=s3cr3t-token&flag",
            "http.url": "http://h:1/p?email=alice@example.com&token=s3cr3t-token",
            "http.target": "/p?session=session-cookie-value",
        },
    ).end()
    tracer.start_span(
        "without queries",
        attributes={"url.full": "http://h:1/p", "http.target": "/p"},
    ).end()

    spans = span_exporter.get_finished_spans()
    assert dict(only_span(spans, "with queries").attributes) == {
        "url.full": "http://h:1/p?token=REDACTED",
        "url.query": "token=REDACTED&flag",
        "http.url": "http://h:1/p?email=REDACTED&token=REDACTED",
        "http.target": "/p?session=REDACTED",
    }
    assert dict(only_span(spans, "without queries").attributes) == {
        "url.full": "http://h:1/p",
        "http.target": "/p",
    }


CREDENTIAL = "S3CRET"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (
            f"http://alice:{CREDENTIAL}@127.0.0.1:4999/v1/traces",
            "http://REDACTED@127.0.0.1:4999/v1/traces",
        ),
        (
            # The gRPC exporter's own words name the target without a scheme.
            f"while exporting traces to alice:{CREDENTIAL}@127.0.0.1:4999, retrying",
            "while exporting traces to REDACTED@127.0.0.1:4999, retrying",
        ),
        (
            f"404 Client Error: Not Found for url: http://du:{CREDENTIAL}@h:80/b"
            f"?token={CREDENTIAL}&x=1#top",
            "404 Client Error: Not Found for url: http://REDACTED@h:80/b"
            "?token=REDACTED&x=REDACTED#top",
        ),
        (f"'https://h/p?k={CREDENTIAL}'", "'https://h/p?k=REDACTED'"),
        (f"(http://u:p@{CREDENTIAL}@h/)", "(http://REDACTED@h/)"),
        ("mail bob@example.com", "mail REDACTED@example.com"),
        ("a path /users/ann@x and 3 @ 4 = 7", "a path /users/ann@x and 3 @ 4 = 7"),
        # Where the URL ends in a sentence: its punctuation is not the value's.
        (
            f"failed (http://h/?k={CREDENTIAL}); retry.",
            "failed (http://h/?k=REDACTED); retry.",
        ),
        (f"see http://h/?k={CREDENTIAL}.", "see http://h/?k=REDACTED."),
        (f"?ids=1,2,{CREDENTIAL}&t={CREDENTIAL})x", "?ids=REDACTED&t=REDACTED"),
    ],
)
def test_scrub_replaces_userinfo_and_query_values_in_any_text(text, scrubbed):
    assert scrub(text) == scrubbed


def test_url_attributes_lose_their_user_and_password(tracer_provider, span_exporter):
    tracer_provider.get_tracer("test").start_span(
        "with userinfo",
        attributes={"url.full": f"http://du:{CREDENTIAL}@h:1/p?k={CREDENTIAL}"},
    ).end()

    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["url.full"] == "http://REDACTED@h:1/p?k=REDACTED"


def test_a_routes_exception_reaches_no_span_with_the_secrets_in_its_text(
    settings, tracer_provider, span_exporter
):
    """A team's own route, raising the usual way, inside its own span."""
    app = create_app(settings, tracer_provider)
    tracer = tracer_provider.get_tracer("team.code")

    @app.get("/fails")
    async def fails() -> None:
        with tracer.start_as_current_span("team_operation"):
            raise ValueError(
                f"cannot reach http://u:{CREDENTIAL}@h/x?token={CREDENTIAL}"
            )

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/fails").status_code == 500

    spans = span_exporter.get_finished_spans()
    operation = only_span(spans, "team_operation")
    (event,) = operation.events
    assert event.attributes["exception.message"] == (
        "cannot reach http://REDACTED@h/x?token=REDACTED"
    )
    stacktrace = event.attributes["exception.stacktrace"]
    assert "http://REDACTED@h/x?token=REDACTED" in stacktrace
    assert operation.status.description == (
        "ValueError: cannot reach http://REDACTED@h/x?token=REDACTED"
    )
    for span in spans:
        recorded = repr(span.to_json())
        assert CREDENTIAL not in recorded, span.name


def span_with(events=(), status=None) -> ReadableSpan:
    context = SpanContext(1, 2, is_remote=False)
    return ReadableSpan(
        name="work",
        context=context,
        parent=SpanContext(1, 3, is_remote=True),
        attributes={"http.request.method": "GET"},
        events=list(events),
        links=[Link(SpanContext(4, 5, is_remote=True))],
        kind=SpanKind.CLIENT,
        status=status or Status(StatusCode.UNSET),
        start_time=10,
        end_time=20,
        instrumentation_scope=InstrumentationScope("team.code", "1.0"),
    )


def test_a_span_with_neither_events_nor_a_description_is_passed_as_it_is():
    span = span_with()

    assert scrubbed_span(span) is span


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ([Event("retry", {"url": f"http://u:{CREDENTIAL}@h/", "n": 2}, 15)], None),
        ([], Status(StatusCode.ERROR, f"GET http://h/?k={CREDENTIAL} failed")),
    ],
    ids=["an-event-alone", "a-description-alone"],
)
def test_events_or_description_alone_are_scrubbed_and_all_else_kept(events, status):
    original = span_with(events, status)

    scrubbed = scrubbed_span(original)

    assert [(e.name, dict(e.attributes), e.timestamp) for e in scrubbed.events] == [
        (e.name, {"url": "http://REDACTED@h/", "n": 2}, e.timestamp) for e in events
    ]
    assert scrubbed.status.status_code is original.status.status_code
    assert CREDENTIAL not in (scrubbed.status.description or "")
    kept = ("name", "context", "parent", "attributes", "links", "kind", "start_time")
    kept += ("end_time", "instrumentation_scope", "resource")
    for field in kept:
        assert getattr(scrubbed, field) == getattr(original, field), field

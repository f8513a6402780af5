"""No secrets on spans: query values redacted; bodies, credentials, cookies absent."""

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
        "url.query": "token=REDACTED&flag=REDACTED",
        "http.url": "http://h:1/p?email=REDACTED&token=REDACTED",
        "http.target": "/p?session=REDACTED",
    }
    assert dict(only_span(spans, "without queries").attributes) == {
        "url.full": "http://h:1/p",
        "http.target": "/p",
    }

"""No secrets on spans: query values redacted; bodies, credentials, cookies absent."""

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.redaction import redact_query, redact_url
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import Tracing, build_tracer_provider

from span_queries import only_span

SECRETS = ("s3cr3t-token", "alice@example.com", "session-cookie-value", "p4ssw0rd")


def test_query_values_are_redacted_and_keys_kept():
    assert redact_query("token=abc&user=bob&flag") == (
        "token=REDACTED&user=REDACTED&flag=REDACTED"
    )


def test_urls_keep_their_path_and_lose_query_values():
    assert redact_url("http://h:1/p?k=v") == "http://h:1/p?k=REDACTED"
    assert redact_url("http://h:1/p") == "http://h:1/p"


def test_server_span_carries_no_secret_from_the_request(span_exporter, monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    # The service's own provider, so its redaction runs, plus a memory exporter.
    provider = build_tracer_provider(Settings.from_environ())
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    app = create_app(
        Settings.from_environ(), Tracing(provider, owned=False, summary="test")
    )

    with TestClient(app) as client:
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

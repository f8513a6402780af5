"""RED metrics: request durations recorded inside the span they time, so that each
duration's exemplar leads to its trace; nothing at all when metrics are off."""

import pytest
from fastapi.testclient import TestClient
from opentelemetry import metrics

from {{ cookiecutter.project_slug }}.app import create_app
from {{ cookiecutter.project_slug }}.routes import EXAMPLE_PATH, HEALTH_PATH
from {{ cookiecutter.project_slug }}.settings import Settings
from {{ cookiecutter.project_slug }}.telemetry import (
    build_meter_provider,
    describe_metrics,
    install_metrics,
)

from span_queries import only_span, read_metrics, span_id_hex, trace_id_hex

DURATION = "http.server.request.duration"
# The semantic conventions' advice for HTTP durations, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1)
DURATION_BUCKETS += (2.5, 5, 7.5, 10)


def test_each_request_is_timed_in_seconds_by_route_method_and_status(
    client, metric_reader
):
    client.get("/")
    client.get("/")
    client.get("/nowhere")

    metric, points = read_metrics(metric_reader)[DURATION]
    assert metric.unit == "s"
    by_route = {p.attributes.get("http.route"): p for p in points}
    root = by_route["/"]
    assert root.count == 2
    assert root.attributes["http.request.method"] == "GET"
    assert root.attributes["http.response.status_code"] == 200
    assert tuple(root.explicit_bounds) == DURATION_BUCKETS
    (missing,) = [p for p in points if p.attributes["http.response.status_code"] == 404]
    assert missing.count == 1


def test_the_health_check_is_not_measured(client, metric_reader):
    client.get(HEALTH_PATH)

    assert DURATION not in read_metrics(metric_reader)


def test_a_durations_exemplar_is_the_server_span_it_timed(
    client, metric_reader, span_exporter
):
    client.get(EXAMPLE_PATH)

    server = only_span(span_exporter.get_finished_spans(), f"GET {EXAMPLE_PATH}")
    _, points = read_metrics(metric_reader)[DURATION]
    (point,) = [p for p in points if p.attributes["http.route"] == EXAMPLE_PATH]
    (exemplar,) = point.exemplars
    assert format(exemplar.trace_id, "032x") == trace_id_hex(server)
    assert format(exemplar.span_id, "016x") == span_id_hex(server)


def test_no_query_value_reaches_a_metric_attribute(client, metric_reader):
    client.get("/?token=S3CRET")

    recorded = read_metrics(metric_reader)
    values = [
        str(value)
        for _, points in recorded.values()
        for point in points
        for value in point.attributes.values()
    ]
    assert values and not [value for value in values if "S3CRET" in value]


def test_a_meter_of_your_own_records_where_the_tests_read(metric_reader):
    """`metrics.get_meter(__name__)` in a module of yours, the usual way."""
    refunds = metrics.get_meter(__name__).create_counter("refunds", unit="{refund}")

    refunds.add(2, {"currency": "EUR"})

    _, (point,) = read_metrics(metric_reader)["refunds"]
    assert (point.value, dict(point.attributes)) == (2, {"currency": "EUR"})


def test_none_builds_no_meter_provider_and_the_app_records_nothing(
    monkeypatch, tracer_provider, metric_reader
):
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    settings = Settings()

    assert install_metrics(settings) is None
    with TestClient(create_app(settings, tracer_provider)) as client:
        client.get("/")
    assert read_metrics(metric_reader) == {}
    assert describe_metrics(settings, None) == (
        "metrics: none (OTEL_METRICS_EXPORTER or OTEL_SDK_DISABLED)"
    )
    disabled = Settings(OTEL_SDK_DISABLED="true", OTEL_METRICS_EXPORTER="otlp")
    assert install_metrics(disabled) is None


def test_metrics_are_exported_every_60_s_unless_otel_metric_export_interval_says(
    monkeypatch,
):
    settings = Settings()
    assert settings.metric_export_interval == 60_000
    assert " every=60s " in describe_metrics(settings, build_meter_provider(settings))

    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "5000")
    settings = Settings()
    line = describe_metrics(settings, build_meter_provider(settings))
    assert line.startswith("metrics: exporter=otlp protocol=")
    assert line.endswith(" every=5s exemplars=trace_based")


@pytest.mark.parametrize("name", ["TRACE_BASED", "ALWAYS_ON", "ALWAYS_OFF"])
def test_the_exemplar_filter_is_read_case_insensitively(monkeypatch, name):
    # The SDK itself raises on upper case when the meter provider is built.
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", name)

    assert build_meter_provider(Settings()).shutdown() is None
    assert Settings().exemplar_filter == name.lower()


def test_the_console_exporter_prints_metrics_whatever_traces_use(monkeypatch, capsys):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    provider = build_meter_provider(Settings())

    provider.get_meter("test").create_counter("refunds").add(1)
    provider.shutdown()

    assert '"name": "refunds"' in capsys.readouterr().out

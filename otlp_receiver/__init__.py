"""A local OTLP trace and metrics receiver for development and tests.

``otlp_receiver`` stands in for an OpenTelemetry Collector plus a tracing
backend on a machine without Docker. It accepts traces and metrics the way a
Collector's ``otlp`` receiver does -- OTLP/gRPC ``TraceService/Export`` and
``MetricsService/Export`` (default port 4317) and OTLP/HTTP binary protobuf
``POST /v1/traces`` and ``POST /v1/metrics`` (default port 4318, gzip and
deflate accepted) -- keeps the spans and metric points in memory, and lets you
look at them: from tests through :class:`OtlpReceiver` (query, bounded waits,
request headers), spans as JSON lines, or in the terminal (``python -m
otlp_receiver --print-traces --print-metrics``: a waterfall per trace, a line
per metric data point).

Point an application at it exactly as you would at a Collector::

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317   # gRPC
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318   # HTTP

In a test::

    with OtlpReceiver() as receiver:  # free ports on 127.0.0.1
        exporter = OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
        ...
        spans = receiver.wait_for_spans(2, timeout=5)
        orders = receiver.wait_for_metrics(("checkout", "orders"), timeout=5)

What it deliberately does not do, and a real Collector and backend (Jaeger,
Grafana Tempo, ...) do:

* persistence -- data lives in process memory only (``--jsonl`` is a dump, not
  a database) and vanishes when it stops;
* sampling, including tail sampling that decides per complete trace;
* processors such as ``batch``, ``memory_limiter``, attribute/resource
  rewriting, or span-to-metrics;
* retries and queueing towards a further backend, and exporting anywhere;
* logs -- they get 404 over HTTP and UNIMPLEMENTED over gRPC; OTLP/JSON is
  answered with 415;
* metric aggregation or temporality conversion -- each data point is kept as
  it arrived (cumulative by default, so a series' newest point is its total);
* a UI, a query language or trace search (it has a terminal waterfall);
* authentication and TLS -- it listens in plaintext, accepts every request and
  only records the headers so tests can check them; keep it on loopback.
"""

from otlp_receiver.jsonl import read_jsonl, span_from_json, span_to_json, write_jsonl
from otlp_receiver.metric_lines import metric_lines
from otlp_receiver.model import (
    Exemplar,
    ExportRecord,
    MetricPoint,
    ReceivedSpan,
    latest_points,
)
from otlp_receiver.receiver import OtlpReceiver
from otlp_receiver.waterfall import render_waterfall

__all__ = [
    "Exemplar",
    "ExportRecord",
    "MetricPoint",
    "OtlpReceiver",
    "ReceivedSpan",
    "latest_points",
    "metric_lines",
    "read_jsonl",
    "render_waterfall",
    "span_from_json",
    "span_to_json",
    "write_jsonl",
]

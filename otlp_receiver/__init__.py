"""A local OTLP trace receiver for development and tests.

``otlp_receiver`` stands in for an OpenTelemetry Collector plus a tracing
backend on a machine without Docker. It accepts traces the way a Collector's
``otlp`` receiver does -- OTLP/gRPC ``TraceService/Export`` (default port 4317)
and OTLP/HTTP binary protobuf ``POST /v1/traces`` (default port 4318, gzip and
deflate accepted) -- keeps the spans in memory, and lets you look at them: from
tests through :class:`OtlpReceiver` (query, bounded waits, request headers),
as JSON lines, or as a terminal waterfall (``python -m otlp_receiver
--print-traces``).

Point an application at it exactly as you would at a Collector::

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317   # gRPC
    OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318   # HTTP

In a test::

    with OtlpReceiver() as receiver:  # free ports on 127.0.0.1
        exporter = OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
        ...
        spans = receiver.wait_for_spans(2, timeout=5)

What it deliberately does not do, and a real Collector and backend (Jaeger,
Grafana Tempo, ...) do:

* persistence -- spans live in process memory only (``--jsonl`` is a dump, not
  a database) and vanish when it stops;
* sampling, including tail sampling that decides per complete trace;
* processors such as ``batch``, ``memory_limiter``, attribute/resource
  rewriting, or span-to-metrics;
* retries and queueing towards a further backend, and exporting anywhere;
* signals other than traces -- metrics and logs get 404 over HTTP and
  UNIMPLEMENTED over gRPC; OTLP/JSON is answered with 415;
* a UI, a query language or trace search (it has a terminal waterfall);
* authentication and TLS -- it listens in plaintext, accepts every request and
  only records the headers so tests can check them; keep it on loopback.
"""

from otlp_receiver.jsonl import read_jsonl, span_from_json, span_to_json, write_jsonl
from otlp_receiver.model import ExportRecord, ReceivedSpan
from otlp_receiver.receiver import OtlpReceiver
from otlp_receiver.waterfall import render_waterfall

__all__ = [
    "ExportRecord",
    "OtlpReceiver",
    "ReceivedSpan",
    "read_jsonl",
    "render_waterfall",
    "span_from_json",
    "span_to_json",
    "write_jsonl",
]

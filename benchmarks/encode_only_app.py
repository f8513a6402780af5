"""The generated app with an exporter that encodes spans for OTLP, then drops them.

For the main suite's cost breakdown ("batch, encoded, never sent"): the export
path with the network left out. The tracer provider is built from the
generated service's own public pieces (its resource, its redacting processor,
its batch processor with the service's settings) around an exporter that
encodes and serializes exactly as the OTLP exporters do, and is handed to
``create_app(tracer_provider=...)``, the injection the service offers.

Run it with ``uvicorn --factory benchmarks.encode_only_app:create_app``;
BENCH_APP_PACKAGE names the generated package (its slug).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class EncodeOnlyExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def create_app() -> FastAPI:
    package = os.environ["BENCH_APP_PACKAGE"]
    app, redaction, settings, telemetry = (
        importlib.import_module(f"{package}.{module}")
        for module in ("app", "redaction", "settings", "telemetry")
    )
    service_settings = settings.load_settings()
    provider = TracerProvider(resource=telemetry.build_resource())
    provider.add_span_processor(redaction.QueryRedactingSpanProcessor())
    provider.add_span_processor(
        telemetry.build_span_processor(service_settings, EncodeOnlyExporter())
    )
    return app.create_app(service_settings, tracer_provider=provider)

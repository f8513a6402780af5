"""The generated app with a provider of the benchmark's own, for the cost
breakdown's "batch, encoded, never sent".

The provider is built from the generated service's own public pieces (its
resource, its redacting processor, its batch processor, its settings) and
handed to ``create_app``, the injection the service offers; its exporter
encodes and serializes exactly as the OTLP exporters do, then drops the spans.

Run it with ``uvicorn --factory benchmarks.provider_variants:create_encode_only_app``;
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


def create_encode_only_app() -> FastAPI:
    package = os.environ["BENCH_APP_PACKAGE"]
    app, redaction, settings, telemetry = (
        importlib.import_module(f"{package}.{module}")
        for module in ("app", "redaction", "settings", "telemetry")
    )
    service_settings = settings.load_settings()
    provider = TracerProvider(
        resource=telemetry.build_resource(),
        active_span_processor=redaction.RedactingSpanProcessor(),
    )
    provider.add_span_processor(
        telemetry.build_span_processor(service_settings, EncodeOnlyExporter())
    )
    return app.create_app(service_settings, tracer_provider=provider)

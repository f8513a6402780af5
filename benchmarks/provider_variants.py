"""The generated app with a provider of the benchmark's own, to measure what the
service could do instead of its defaults.

The provider is built from the generated service's own public pieces (its
resource, its redacting processor, its exporters, its settings) and handed to
``create_app``, the injection the service offers:

- ``create_encode_only_app``, for the cost breakdown's "batch, encoded, never
  sent": the service's batch processor around an exporter that encodes and
  serializes exactly as the OTLP exporters do, then drops the spans;
- ``create_native_app``: fastotel's Rust span processor, which batches, encodes
  and sends over OTLP/HTTP on a native thread without the GIL. Evaluated
  against the service's guarantees and not adopted; docs/design-decisions.md
  says which one it failed.

Run one with ``uvicorn --factory benchmarks.provider_variants:<name>``;
BENCH_APP_PACKAGE names the generated package (its slug).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from types import ModuleType

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class EncodeOnlyExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def create_encode_only_app() -> FastAPI:
    return _service_app(
        lambda telemetry, settings: telemetry.build_span_processor(
            settings, EncodeOnlyExporter()
        )
    )


def create_native_app() -> FastAPI:
    from fastotel import OTLPSpanProcessor

    # The endpoint and batch size the service itself would use; fastotel reads
    # the rest (timeout, headers, OTEL_BSP_*) from the same variables.
    return _service_app(
        lambda telemetry, settings: OTLPSpanProcessor(
            endpoint=settings.endpoint("traces"),
            max_export_batch_size=settings.export_batch_size,
        )
    )


def _service_app(
    span_processor: Callable[[ModuleType, object], SpanProcessor],
) -> FastAPI:
    app, redaction, settings, telemetry = _generated(
        "app", "redaction", "settings", "telemetry"
    )
    service_settings = settings.load_settings()
    provider = TracerProvider(
        resource=telemetry.build_resource(),
        active_span_processor=redaction.RedactingSpanProcessor(),
    )
    provider.add_span_processor(span_processor(telemetry, service_settings))
    return app.create_app(service_settings, tracer_provider=provider)


def _generated(*modules: str) -> list[ModuleType]:
    package = os.environ["BENCH_APP_PACKAGE"]
    return [importlib.import_module(f"{package}.{module}") for module in modules]

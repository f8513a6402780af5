"""The generated app with one or more changes, picked by BENCH_EXPERIMENT.

BENCH_EXPERIMENT is a comma-separated list of:

- `encode-only`: the OTLP exporter is swapped for one that encodes and
  serializes the spans exactly as the OTLP exporters do, then drops them: the
  export path with the network left out (the main suite's cost breakdown).
- `freeze`: `gc.collect()` then `gc.freeze()` once the app is built, so full
  collections no longer scan what start-up made.
- `switch=<seconds>`: `sys.setswitchinterval`, how long a thread waiting for
  the GIL waits before it asks the holder to let go (CPython's default 0.005).

Run it with `uvicorn --factory benchmarks.experiment_app:create_app`;
BENCH_APP_MODULE names the generated app module (`<slug>.app`).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class EncodeOnlyExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


def swap_exporters(provider: trace.TracerProvider, exporter: SpanExporter) -> int:
    """Replace the exporter behind every batch processor; returns how many."""
    swapped = 0
    for processor in provider._active_span_processor._span_processors:
        batch = getattr(processor, "_batch_processor", None)
        if batch is not None:
            batch._exporter = exporter
            swapped += 1
    return swapped


def create_app() -> FastAPI:
    experiments = [e for e in os.environ.get("BENCH_EXPERIMENT", "").split(",") if e]
    module = importlib.import_module(os.environ["BENCH_APP_MODULE"])
    app = module.create_app()
    for experiment in experiments:
        name, _, value = experiment.partition("=")
        if name == "encode-only":
            if not swap_exporters(trace.get_tracer_provider(), EncodeOnlyExporter()):
                raise SystemExit("encode-only: the service has no batch processor")
        elif name == "freeze":
            gc.collect()
            gc.freeze()
        elif name == "switch":
            sys.setswitchinterval(float(value))
        else:
            raise SystemExit(f"unknown experiment {experiment!r}")
    return app

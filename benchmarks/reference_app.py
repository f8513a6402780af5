"""The reference: the tutorial's tracing setup, rebuilt here to be measured.

What it reproduces is the setup, not the tutorial's code: one global
TracerProvider with no Resource, FastAPI's default telemetry (operation spans
on, so dependencies, endpoint and serialization each get a span), and a
BatchSpanProcessor in front of the gRPC OTLP exporter with its defaults. The
routes match the generated service's (`/`, and `/<slug>` doing its work in a
custom span), so the two are driven with the same requests. The exporter reads
OTEL_EXPORTER_OTLP_ENDPOINT itself; BENCH_APP_PACKAGE (the generated slug)
names the example route. There is no `/healthz`: every route of this app is
traced, and the benchmark waits for its port instead.

Run it with `uvicorn --factory benchmarks.reference_app:create_app`.
"""

import os

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def create_app() -> FastAPI:
    slug = os.environ["BENCH_APP_PACKAGE"]
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(insecure=True)))
    trace.set_tracer_provider(provider)
    # No telemetry options: FastAPI finds the global provider and traces with
    # its defaults, as an application that only sets the provider would.
    app = FastAPI()
    tracer = trace.get_tracer(__name__)

    @app.get("/")
    async def identity() -> dict[str, str]:
        return {"name": slug, "version": "0.1.0"}

    @app.get(f"/{slug}")
    async def example() -> dict[str, str]:
        with tracer.start_as_current_span(f"{slug}_operation"):
            return {"message": f"Hello from {slug}"}

    return app

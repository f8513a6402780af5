"""The reference and the peers: other ways to trace the same routes, to be measured.

The reference is the tutorial's tracing setup, rebuilt here.

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

The peers are what a user might pick instead of the template, each set up as
its own documentation says and exporting over gRPC to the same receiver:
`create_contrib_app`, the contrib opentelemetry-instrumentation-fastapi with
its defaults (which turns FastAPI's own telemetry off), and
`create_lite_bootstrap_app`, lite-bootstrap's FastAPI bootstrapper with its
OpenTelemetry instrument, and `create_logfire_app`, Pydantic Logfire set up as
its guide to other backends says (OTLP over HTTP to the same endpoint variable;
its defaults also export metrics there).
"""

import os

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def install_global_provider() -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(insecure=True)))
    trace.set_tracer_provider(provider)


def create_app() -> FastAPI:
    install_global_provider()
    # No telemetry options: FastAPI finds the global provider and traces with
    # its defaults, as an application that only sets the provider would.
    return add_routes(FastAPI())


def create_contrib_app() -> FastAPI:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    install_global_provider()
    app = add_routes(FastAPI())
    FastAPIInstrumentor.instrument_app(app)
    return app


def create_lite_bootstrap_app() -> FastAPI:
    from lite_bootstrap import FastAPIBootstrapper, FastAPIConfig

    config = FastAPIConfig(
        service_name=os.environ["BENCH_APP_PACKAGE"],
        service_debug=False,
        opentelemetry_endpoint=os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"],
    )
    return add_routes(FastAPIBootstrapper(bootstrap_config=config).bootstrap())


def create_logfire_app() -> FastAPI:
    import logfire

    # Its guide for an OTLP backend: nothing to Logfire's service, no console.
    logfire.configure(
        send_to_logfire=False,
        service_name=os.environ["BENCH_APP_PACKAGE"],
        console=False,
    )
    app = add_routes(FastAPI())
    logfire.instrument_fastapi(app)
    return app


def add_routes(app: FastAPI) -> FastAPI:
    """The generated service's two routes: `/`, and `/<slug>` with a span."""
    slug = os.environ["BENCH_APP_PACKAGE"]
    tracer = trace.get_tracer(__name__)

    @app.get("/")
    async def identity() -> dict[str, str]:
        return {"name": slug, "version": "0.1.0"}

    @app.get(f"/{slug}")
    async def example() -> dict[str, str]:
        with tracer.start_as_current_span(f"{slug}_operation"):
            return {"message": f"Hello from {slug}"}

    return app

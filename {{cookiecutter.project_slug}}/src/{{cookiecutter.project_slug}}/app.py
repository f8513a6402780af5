"""Owns the app factory: the FastAPI app, with tracing wired in as it is built.

FastAPI's telemetry is configured at construction: Starlette builds middleware
on the first ASGI call, the lifespan, so tracing set up there would do nothing.
The lifespan flushes at shutdown, because uvicorn's SIGTERM path skips atexit.
Your routers are included below the example's; the rest is the wiring.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from opentelemetry import metrics, trace
from starlette.types import Scope

from . import __version__
from .logs import SpanOnErrorMiddleware, configure_logging
from .propagation import install_propagation
from .routes import HEALTH_PATH, build_router
from .settings import DOWNSTREAM_SERVICE, Settings, load_settings
from .telemetry import (
    describe,
    describe_metrics,
    install_metrics,
    install_tracing,
    shut_down,
)

logger = logging.getLogger(__package__)


def is_health_check(scope: Scope) -> bool:
    return scope.get("path") == HEALTH_PATH


def create_app(
    settings: Settings | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> FastAPI:
    """The service, tracing with `tracer_provider` and measuring with
    `meter_provider`, or else the global ones, which it flushes and shuts down
    when it stops."""
    settings = settings or load_settings()
    configure_logging(settings)
    install_propagation(settings)
    provider = tracer_provider or install_tracing(settings)
    meter_provider = meter_provider or install_metrics(settings)
    logger.info(describe(settings, provider))
    logger.info(describe_metrics(settings, meter_provider))
    downstream = None
    if DOWNSTREAM_SERVICE is not None:
        from .downstream_client import DownstreamClient

        downstream = DownstreamClient(settings, provider, meter_provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if downstream is not None:
            downstream.close()
        providers = (provider, meter_provider)
        await to_thread.run_sync(shut_down, providers, settings.shutdown_timeout)

    app = FastAPI(
        title=__package__,
        version=__version__,
        lifespan=lifespan,
        telemetry={
            "tracer_provider": provider,
            "tracing": not settings.sdk_disabled,
            "operation_spans": settings.operation_spans,
            "meter_provider": meter_provider,
            # http.server.request.duration, recorded inside the server span: its
            # exemplars carry that span's trace id.
            "metrics": meter_provider is not None,
            "logs": False,
            "auto_configure": False,
            "exclude": is_health_check,
        },
    )
    # The one client, for every route: `request.app.state.downstream`.
    app.state.downstream = downstream
    app.add_middleware(SpanOnErrorMiddleware)
    tracer = provider.get_tracer(__package__, __version__)
    app.include_router(build_router(tracer))
    return app

"""The app factory: builds the FastAPI app with tracing wired in as it is built.

Server spans come from FastAPI's built-in telemetry, configured here, when the
app is constructed. Starlette builds its middleware stack on the first ASGI
call, which is the lifespan, so tracing set up inside the lifespan would
silently do nothing. The lifespan's only tracing work is the flush at shutdown:
uvicorn's SIGTERM path skips atexit hooks.

Run it with `uvicorn --factory {{ cookiecutter.project_slug }}.app:create_app` or `python -m {{ cookiecutter.project_slug }}`.
"""

import logging
import sys
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from . import __version__
from .logs import SpanOnErrorMiddleware, configure_logging
from .propagation import install_limited_propagator
from .routes import HEALTH_PATH, build_router
from .settings import ConfigurationError, Settings
from .telemetry import Tracing, install_tracing, shutdown_tracer_provider

logger = logging.getLogger(__package__)


def is_health_check(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") == HEALTH_PATH


def create_app(
    settings: Settings | None = None, tracing: Tracing | None = None
) -> FastAPI:
    """Build the service. Tests pass their own `tracing`, not the global one."""
    try:
        settings = settings or Settings.from_environ()
        configure_logging(settings)
        install_limited_propagator()
        tracing = tracing or install_tracing(settings)
    except ConfigurationError as error:
        # uvicorn would print a traceback; the one line naming the variable is
        # the whole story, and serving without the tracing asked for is worse.
        print(f"{__package__}: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.info(tracing.summary)
        yield
        if downstream_client is not None:
            downstream_client.close()
        if tracing.owned:
            await to_thread.run_sync(
                shutdown_tracer_provider, tracing.provider, settings.shutdown_timeout
            )

    app = FastAPI(
        title=settings.service_slug,
        version=__version__,
        lifespan=lifespan,
        telemetry={
            "tracer_provider": tracing.provider,
            "tracing": tracing.enabled,
            "operation_spans": settings.operation_spans,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
            "exclude": is_health_check,
        },
    )
    app.add_middleware(SpanOnErrorMiddleware)
    downstream_client = None
    if settings.downstream_service is not None and settings.downstream_url is not None:
        from .downstream_client import add_downstream_client

        downstream_client = add_downstream_client(app, settings, tracing)
    tracer = tracing.provider.get_tracer(__package__, __version__)
    app.include_router(build_router(settings, tracer, downstream_client))
    return app

"""Owns the service's routes: the health check, its identity, and the traced example.

The example is yours to replace. Routes of your own go in modules of their own
(the README's "Add your own route"), with `trace.get_tracer(__name__)`: the
same provider as `tracer` here, in the service and in its tests.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from opentelemetry.trace import Tracer

from . import __version__
from .settings import DOWNSTREAM_SERVICE

HEALTH_PATH = "/healthz"
EXAMPLE_PATH = f"/{__package__}"
# The example's own span, inside the server span FastAPI makes.
OPERATION = f"{__package__}_operation"


def build_router(tracer: Tracer) -> APIRouter:
    router = APIRouter()

    @router.get(HEALTH_PATH)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/")
    async def identity() -> dict[str, str]:
        return {"name": __package__, "version": __version__}

    @router.get(EXAMPLE_PATH)
    async def example(request: Request) -> dict[str, Any]:
        with tracer.start_as_current_span(OPERATION):
            answer: dict[str, Any] = {"message": f"Hello from {__package__}"}
            downstream = request.app.state.downstream
            if downstream is not None:
                # A blocking call: in the thread pool, never on the event loop.
                answer[f"{DOWNSTREAM_SERVICE}_response"] = await run_in_threadpool(
                    downstream.fetch, f"/{DOWNSTREAM_SERVICE}"
                )
            return answer

    return router

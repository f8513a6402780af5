"""Owns the service's routes: the health check, its identity, and the traced example."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from opentelemetry.trace import Tracer

from . import __version__

HEALTH_PATH = "/healthz"
EXAMPLE_PATH = f"/{__package__}"
OPERATION = f"{__package__}_operation"


def build_router(
    tracer: Tracer, call_downstream: Callable[[], dict[str, Any]] | None = None
) -> APIRouter:
    router = APIRouter()

    @router.get(HEALTH_PATH)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/")
    async def identity() -> dict[str, str]:
        return {"name": __package__, "version": __version__}

    @router.get(EXAMPLE_PATH, name=OPERATION)
    async def example() -> dict[str, Any]:
        with tracer.start_as_current_span(OPERATION):
            answer: dict[str, Any] = {"message": f"Hello from {__package__}"}
            if call_downstream is not None:
                # A blocking call: in the thread pool, never on the event loop.
                answer |= await run_in_threadpool(call_downstream)
            return answer

    return router

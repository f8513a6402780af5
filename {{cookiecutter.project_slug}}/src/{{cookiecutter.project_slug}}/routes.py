"""The service's routes: health check, identity, and the traced example."""

from typing import Any, Protocol

from fastapi import APIRouter
from opentelemetry.trace import Tracer

from . import __version__
from .settings import Settings

HEALTH_PATH = "/healthz"


class Downstream(Protocol):
    response_key: str

    def fetch(self) -> Any: ...


def build_router(
    settings: Settings, tracer: Tracer, downstream: Downstream | None
) -> APIRouter:
    router = APIRouter()
    slug = settings.service_slug
    operation = f"{slug}_operation"

    @router.get(HEALTH_PATH)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/")
    async def identity() -> dict[str, str]:
        return {"name": slug, "version": __version__}

    async def example() -> dict[str, Any]:
        with tracer.start_as_current_span(operation):
            return {"message": f"Hello from {slug}"}

    # A plain `def`: FastAPI runs it in its thread pool, so the blocking call to
    # the downstream never holds the event loop.
    def example_calling_downstream() -> dict[str, Any]:
        assert downstream is not None
        with tracer.start_as_current_span(operation):
            return {
                "message": f"Hello from {slug}",
                downstream.response_key: downstream.fetch(),
            }

    router.add_api_route(
        f"/{slug}",
        example if downstream is None else example_calling_downstream,
        methods=["GET"],
        name=operation,
    )
    return router

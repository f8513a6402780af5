"""Owns calls to the downstream service: traced, bounded in time, failures as 502/504.

`requests` is instrumented so each call makes a CLIENT span and carries the
current trace in a `traceparent` header; that header is what joins this
service's trace to the downstream's.
"""

import os
from typing import Any

import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.requests import RequestsInstrumentor

from .settings import Settings
from .telemetry import Tracing


class DownstreamError(Exception):
    """The downstream failed; `status_code` is this service's answer (502 or 504)."""

    def __init__(self, status_code: int, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.status_code = status_code
        self.service = service
        self.detail = detail


class DownstreamClient:
    def __init__(
        self,
        base_url: str,
        service: str,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.service = service
        self.url = f"{base_url.rstrip('/')}/{service}"
        self.response_key = f"{service}_response"
        self.timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()

    def fetch(self) -> Any:
        """GET the downstream's route and return its JSON, or raise DownstreamError."""
        try:
            response = self._session.get(self.url, timeout=self.timeout)
        except requests.Timeout as error:
            raise DownstreamError(504, self.service, "timed out") from error
        except requests.RequestException as error:
            raise DownstreamError(
                502, self.service, f"unreachable ({type(error).__name__})"
            ) from error
        if not response.ok:
            raise DownstreamError(
                502, self.service, f"answered HTTP {response.status_code}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise DownstreamError(
                502, self.service, "answered with non-JSON"
            ) from error

    def close(self) -> None:
        self._session.close()


def instrument_requests(tracing: Tracing) -> None:
    """Trace every `requests` call with the service's provider.

    The instrumentor patches `requests` process-wide and binds the provider when
    it is applied, so it is re-applied when a new provider comes in (tests).
    """
    # Client spans with the same stable HTTP attribute names as FastAPI's server
    # spans (http.request.method, url.full); an operator's own choice stands.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    instrumentor = RequestsInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    if tracing.enabled:
        instrumentor.instrument(tracer_provider=tracing.provider)


async def downstream_error_response(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DownstreamError)
    return JSONResponse(
        status_code=error.status_code,
        content={
            "error": "downstream_failed",
            "downstream": error.service,
            "detail": error.detail,
        },
    )


def add_downstream_client(
    app: FastAPI, settings: Settings, tracing: Tracing
) -> DownstreamClient:
    assert (
        settings.downstream_url is not None and settings.downstream_service is not None
    )
    instrument_requests(tracing)
    app.add_exception_handler(DownstreamError, downstream_error_response)
    return DownstreamClient(
        settings.downstream_url,
        settings.downstream_service,
        settings.downstream_connect_timeout,
        settings.downstream_read_timeout,
    )

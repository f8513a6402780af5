"""Owns calls to the downstream service: traced, bounded in time, failures as 502/504.

`requests` is instrumented, so each call makes a CLIENT span and carries the
current trace in a `traceparent` header: what joins this service's trace to the
downstream's. A route reaches the app's one client as `request.app.state.
downstream` and calls `fetch(path)` for any path of the downstream, in the
thread pool (`run_in_threadpool`): the call blocks.
"""

import os
from typing import Any

import requests
from fastapi import HTTPException
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor

from .settings import DOWNSTREAM_SERVICE, Settings

# Deeper answers are refused: FastAPI's serializer fails past about 250 levels,
# and the JSON decoder past about 1,000 with a RecursionError.
MAX_JSON_DEPTH = 100


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether `value`'s lists and objects go more than `limit` levels deep."""
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return False
    return limit == 0 or any(nested_deeper_than(item, limit - 1) for item in value)


def instrument_requests(
    provider: trace.TracerProvider, meter_provider: metrics.MeterProvider | None
) -> None:
    """Trace every `requests` call with `provider`, and time it with
    `meter_provider` (http.client.request.duration, inside the client span).

    The instrumentor patches `requests` process-wide and binds the providers when
    it is applied, so new providers (a test's) mean applying it again.
    """
    # Client spans with the stable HTTP attribute names FastAPI's server spans
    # use (http.request.method, url.full); an operator's own choice stands.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    instrumentor = RequestsInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(
        tracer_provider=provider,
        meter_provider=meter_provider or metrics.NoOpMeterProvider(),
    )


class DownstreamClient:
    def __init__(
        self,
        settings: Settings,
        provider: trace.TracerProvider,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        instrument_requests(provider, meter_provider)
        self.service = str(DOWNSTREAM_SERVICE)
        self.base_url = settings.downstream_url.rstrip("/")
        self.timeout = (
            settings.downstream_connect_timeout,
            settings.downstream_read_timeout,
        )
        self._session = requests.Session()

    def fetch(self, path: str) -> Any:
        """The downstream's JSON answer at `path`; 502 or 504 if it fails."""
        # Always a path of SERVICE_DOWNSTREAM_URL's host, whatever `path` holds.
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self._session.get(url, timeout=self.timeout)
            response.raise_for_status()
            answer = response.json()
            if nested_deeper_than(answer, MAX_JSON_DEPTH):
                raise RecursionError  # as the decoder does past its own limit
            return answer
        except requests.Timeout as error:
            raise HTTPException(504, f"{self.service}: timed out") from error
        except requests.HTTPError as error:
            detail = f"{self.service}: answered HTTP {error.response.status_code}"
            raise HTTPException(502, detail) from error
        except requests.JSONDecodeError as error:
            raise HTTPException(502, f"{self.service}: answered non-JSON") from error
        except RecursionError as error:
            detail = f"answered JSON nested deeper than {MAX_JSON_DEPTH} levels"
            raise HTTPException(502, f"{self.service}: {detail}") from error
        except requests.RequestException as error:
            detail = f"{self.service}: unreachable ({type(error).__name__})"
            raise HTTPException(502, detail) from error

    def close(self) -> None:
        self._session.close()

"""`python -m <package> doctor`: can this service's spans reach a tracing backend?

The tutorial's three pitfalls each leave a service that starts, answers and
exports nothing, without a single error: the tracer provider never set, the
collector's endpoint wrong, a library never instrumented. This command turns
them into one command: a pass/fail line per check, from the same settings the
service would serve with, and a non-zero exit status when any check fails.

It sends one real span, `doctor.probe`, to the configured collector, bounded to
a few seconds. The app itself is exercised in process, tracing into memory, so
no port is opened and nothing is set globally but the instrumentation the app
applies when it is built.
"""

import asyncio
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TextIO

from fastapi import FastAPI
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from .app import create_app
from .routes import HEALTH_PATH
from .settings import ConfigurationError, Settings
from .telemetry import Tracing, build_resource, build_tracing, describe

PROBE_SPAN_NAME = "doctor.probe"
# Seconds the exporter gets for the probe, its own retries included.
PROBE_TIMEOUT = 3.0
DOWNSTREAM_TIMEOUT = 2.0
EXPORTER_LOGGERS = "opentelemetry.exporter"
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status}  {self.name:<22} {self.detail}"


def check_tracer_provider(settings: Settings, tracing: Tracing) -> Check:
    name = "tracer provider"
    if settings.sdk_disabled:
        return Check(
            name, FAIL, "tracing is disabled (OTEL_SDK_DISABLED=true): no spans"
        )
    if not isinstance(tracing.provider, TracerProvider):
        return Check(
            name,
            FAIL,
            f"{type(tracing.provider).__name__} is not the SDK's TracerProvider: "
            "spans would be dropped",
        )
    service_name = tracing.provider.resource.attributes.get(SERVICE_NAME)
    return Check(name, PASS, f"the SDK's TracerProvider, service.name={service_name}")


def check_processor_and_sampler(settings: Settings, tracing: Tracing) -> Check:
    name = "processor and sampler"
    if not isinstance(tracing.provider, TracerProvider):
        return Check(name, SKIP, "no SDK tracer provider")
    if not settings.traces_exporters:
        return Check(
            name, FAIL, "OTEL_TRACES_EXPORTER=none: spans are made and sent nowhere"
        )
    sampler = tracing.provider.sampler.get_description()
    if sampler == "AlwaysOffSampler":
        return Check(name, FAIL, "sampler AlwaysOffSampler: no span is ever recorded")
    exporters = ",".join(settings.traces_exporters)
    return Check(
        name,
        PASS,
        f"{settings.span_processor} processor, exporter {exporters}, sampler {sampler}",
    )


def otlp_exporter(settings: Settings, timeout: float) -> SpanExporter:
    """The configured OTLP exporter, its time bounded (its default is 10 s)."""
    try:
        if settings.otlp_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
    except ImportError as error:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={settings.otlp_protocol} needs its "
            f"exporter package, which is not installed ({error.name})"
        ) from error
    return OTLPSpanExporter(endpoint=settings.otlp_traces_endpoint, timeout=timeout)


def probe_span(settings: Settings) -> ReadableSpan:
    """One finished span, named `doctor.probe`, with the service's resource."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=build_resource(settings))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer(__name__).start_span(PROBE_SPAN_NAME).end()
    provider.shutdown()
    return memory.get_finished_spans()[0]


def shorten(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


@contextmanager
def exporter_complaints() -> Iterator[list[str]]:
    """Collect what the exporters log while the probe runs, instead of printing it.

    The exporters explain a failed export only in their log lines. Their loggers'
    filters are swapped for one that keeps the first line of each warning, and
    put back afterwards.
    """
    complaints: list[str] = []

    class Collect(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.levelno >= logging.WARNING:
                complaints.append(shorten(record.getMessage().splitlines()[0]))
            return False

    collect = Collect()
    exporter_loggers = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith(EXPORTER_LOGGERS)
    ]
    saved = [(logger, logger.filters) for logger in exporter_loggers]
    for logger in exporter_loggers:
        logger.filters = [collect]
    try:
        yield complaints
    finally:
        for logger, filters in saved:
            logger.filters = filters


def endpoint_hint(settings: Settings) -> str:
    """The usual cause of a failed export, read from the endpoint's shape."""
    endpoint = settings.otlp_traces_endpoint
    if settings.otlp_protocol == "grpc" and ":4318" in endpoint:
        return "; 4318 is OTLP/HTTP's port, gRPC's is 4317"
    if settings.otlp_protocol != "grpc" and ":4317" in endpoint:
        return "; 4317 is OTLP/gRPC's port, HTTP's is 4318"
    if settings.otlp_protocol == "grpc" and "://" not in endpoint:
        return "; an endpoint without a scheme means TLS (http:// for plaintext)"
    return ""


def check_collector(settings: Settings) -> Check:
    name = "collector"
    if settings.sdk_disabled:
        return Check(name, SKIP, "tracing is disabled")
    if "otlp" not in settings.traces_exporters:
        exporters = ",".join(settings.traces_exporters) or "none"
        return Check(name, SKIP, f"OTEL_TRACES_EXPORTER={exporters}: no OTLP export")
    where = f"{settings.otlp_traces_endpoint} ({settings.otlp_protocol})"
    try:
        exporter = otlp_exporter(settings, PROBE_TIMEOUT)
    except ConfigurationError as error:
        return Check(name, FAIL, str(error))
    span = probe_span(settings)
    started = time.monotonic()
    with exporter_complaints() as complaints:
        try:
            result = exporter.export([span])
        except Exception as error:  # noqa: BLE001 -- any failure is the answer
            result = SpanExportResult.FAILURE
            complaints.append(f"{type(error).__name__}: {error}")
        finally:
            exporter.shutdown()
    elapsed = time.monotonic() - started
    if result is SpanExportResult.SUCCESS:
        return Check(
            name,
            PASS,
            f"{where} accepted the probe span {PROBE_SPAN_NAME} in {elapsed:.2f} s",
        )
    reason = complaints[0] if complaints else "the export failed"
    return Check(
        name,
        FAIL,
        f"{where} did not accept the probe span within {PROBE_TIMEOUT:.0f} s: "
        f"{reason}{endpoint_hint(settings)}",
    )


def serve_one_request(app: FastAPI, path: str) -> int:
    """GET `path` through the ASGI app, in process; return the status code."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"doctor")],
        "client": ("127.0.0.1", 0),
        "server": ("doctor", 80),
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if any(message["type"] == "http.response.start" for message in messages):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in messages if m["type"] == "http.response.start")


def check_server_spans(settings: Settings) -> Check:
    name = "server spans"
    if settings.sdk_disabled:
        return Check(name, SKIP, "tracing is disabled")
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=build_resource(settings))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing = Tracing(provider, owned=False, summary="doctor: tracing into memory")
    try:
        status = serve_one_request(create_app(settings, tracing), "/")
    except Exception as error:  # noqa: BLE001 -- report it, do not crash the doctor
        return Check(name, FAIL, f"GET / failed: {type(error).__name__}: {error}")
    finished = memory.get_finished_spans()
    server_spans = [span.name for span in finished if span.kind == SpanKind.SERVER]
    if not server_spans:
        return Check(
            name,
            FAIL,
            f"GET / answered {status} but made no server span: the app's "
            "FastAPI telemetry is not given the provider",
        )
    return Check(name, PASS, f"GET / answered {status} in span {server_spans[0]!r}")


def check_client_instrumentation(settings: Settings) -> Check:
    """Run after `check_server_spans`, which builds the app and so instruments."""
    name = "client spans"
    if settings.downstream_service is None:
        return Check(name, SKIP, "this service has no downstream client")
    if settings.sdk_disabled:
        return Check(name, SKIP, "tracing is disabled")
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    if not RequestsInstrumentor().is_instrumented_by_opentelemetry:
        return Check(
            name,
            FAIL,
            "requests is not instrumented: calls carry no traceparent and the "
            "downstream starts a trace of its own",
        )
    return Check(name, PASS, "requests is instrumented: calls carry traceparent")


def check_downstream(settings: Settings) -> Check:
    name = "downstream"
    if settings.downstream_service is None or settings.downstream_url is None:
        return Check(name, SKIP, "this service has no downstream client")
    url = f"{settings.downstream_url}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=DOWNSTREAM_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        return Check(name, FAIL, f"{url} answered HTTP {error.code}")
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Check(name, FAIL, f"{url} unreachable: {reason}")
    return Check(name, PASS, f"{url} answered {status}")


def run_checks(settings: Settings, tracing: Tracing) -> Iterator[Check]:
    """Each check as it finishes, in this order: the client check needs the app."""
    yield check_tracer_provider(settings, tracing)
    yield check_processor_and_sampler(settings, tracing)
    yield check_collector(settings)
    yield check_server_spans(settings)
    yield check_client_instrumentation(settings)
    yield check_downstream(settings)


def summarize(checks: Sequence[Check]) -> str:
    failed = [check.name for check in checks if check.status == FAIL]
    if not failed:
        return "doctor: every check passed"
    return f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}"


def run_doctor(settings: Settings, out: TextIO | None = None) -> int:
    """Print one line per check; 0 when none failed, 1 otherwise."""
    out = out or sys.stdout
    # The service's provider as it would be built, but without its exporters
    # (the probe sends its own span, bounded in time), and never set globally.
    tracing = build_tracing(replace(settings, traces_exporters=()))
    print(f"{__package__} doctor: {describe(settings, tracing.provider)}", file=out)
    checks: list[Check] = []
    try:
        for check in run_checks(settings, tracing):
            print(check.line(), file=out, flush=True)
            checks.append(check)
    finally:
        if isinstance(tracing.provider, TracerProvider):
            tracing.provider.shutdown()
    print(summarize(checks), file=out)
    return 1 if any(check.status == FAIL for check in checks) else 0

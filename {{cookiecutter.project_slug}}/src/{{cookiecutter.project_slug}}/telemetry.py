"""Owns the tracer provider: its resource, exporters, span processors and shutdown.

The sampler, the batch processor's limits (OTEL_BSP_*) and the exporter's headers,
timeout, compression and TLS settings are left to the OpenTelemetry SDK, which
reads them from the standard variables. This module decides only what the SDK
leaves to the application: the service's identity, which exporter and processor
run, the endpoint when no variable names one, and two defaults of its own: the
export batch size when OTEL_BSP_MAX_EXPORT_BATCH_SIZE is unset, and the `simple`
processor's schedule delay of a few milliseconds.
"""

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    SERVICE_VERSION,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanProcessor,
)

from . import __version__
from .export_health import (
    ExporterLogFolder,
    OutageReportingExporter,
    fold_exporter_logs,
)
from .redaction import QueryRedactingSpanProcessor
from .settings import ConfigurationError, Settings, export_batch_size

logger = logging.getLogger(__name__)

# How long a span waits for the `simple` processor's worker: short enough that
# spans look immediate while debugging; spans that end within it share an export.
SIMPLE_SCHEDULE_DELAY_MILLIS = 10
_exporter_log_folder = ExporterLogFolder()
_EXPORTER_PACKAGES = {
    "grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "http/protobuf": "opentelemetry-exporter-otlp-proto-http",
}


@dataclass(frozen=True)
class Tracing:
    """The provider the service traces with, and whether the service shuts it down."""

    provider: trace.TracerProvider
    owned: bool
    summary: str

    @property
    def enabled(self) -> bool:
        return not isinstance(self.provider, trace.NoOpTracerProvider)


def build_resource(settings: Settings) -> Resource:
    """Name the service; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over code.

    `Resource.create` lets attributes given in code override the environment, so
    the defaults are given only for the keys the environment leaves unset.
    """
    defaults = {SERVICE_NAME: settings.service_slug, SERVICE_VERSION: __version__}
    from_environment = OTELResourceDetector().detect().attributes
    return Resource.create(
        {key: value for key, value in defaults.items() if key not in from_environment}
    )


def build_otlp_exporter(settings: Settings) -> SpanExporter:
    protocol = settings.otlp_protocol
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
    except ImportError as error:
        package = _EXPORTER_PACKAGES[protocol]
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} needs the package {package}, "
            "which is not installed"
        ) from error
    return OTLPSpanExporter(endpoint=settings.otlp_traces_endpoint)


def build_exporters(settings: Settings) -> list[SpanExporter]:
    exporters: list[SpanExporter] = []
    for name in settings.traces_exporters:
        if name == "otlp":
            otlp = build_otlp_exporter(settings)
            fold_exporter_logs(_exporter_log_folder)
            exporters.append(
                OutageReportingExporter(
                    otlp, settings.otlp_traces_endpoint, _exporter_log_folder
                )
            )
        elif name == "console":
            # sys.stdout looked up now, not at import: redirected output gets spans.
            exporters.append(ConsoleSpanExporter(out=sys.stdout))
    return exporters


def build_span_processor(kind: str, exporter: SpanExporter) -> SpanProcessor:
    """The batch processor, or its send-at-once form for `simple`.

    The SDK's SimpleSpanProcessor exports on the thread that ends the span: in
    an async service that is the event loop, and with the collector down every
    request then waits through the exporter's retries (about 7 s each). Here
    `simple` keeps what it is for, each span on its way within milliseconds of
    ending, but sent from the processor's worker thread with a bounded queue,
    so a slow or dead collector costs dropped spans, never stalled requests.
    Spans that end while an export is in flight go together in the next one, so
    under load `simple` keeps up like `batch` instead of dropping spans.
    """
    batch_size = export_batch_size(os.environ)
    if kind == "simple":
        return BatchSpanProcessor(
            exporter,
            max_export_batch_size=batch_size,
            schedule_delay_millis=SIMPLE_SCHEDULE_DELAY_MILLIS,
        )
    return BatchSpanProcessor(exporter, max_export_batch_size=batch_size)


def build_tracer_provider(settings: Settings) -> TracerProvider:
    provider = TracerProvider(resource=build_resource(settings))
    # First, so no exporter ever sees an unredacted span.
    provider.add_span_processor(QueryRedactingSpanProcessor())
    for exporter in build_exporters(settings):
        provider.add_span_processor(
            build_span_processor(settings.span_processor, exporter)
        )
    return provider


def describe(settings: Settings, provider: trace.TracerProvider) -> str:
    """The one startup line that says where spans go and how."""
    if isinstance(provider, trace.NoOpTracerProvider):
        return "tracing disabled (OTEL_SDK_DISABLED=true): no spans are recorded"
    if not isinstance(provider, TracerProvider):
        return f"tracing through an externally configured {type(provider).__name__}"
    exporters = ",".join(settings.traces_exporters) or "none"
    parts = [
        f"service.name={provider.resource.attributes.get(SERVICE_NAME)}",
        f"exporter={exporters}",
    ]
    if "otlp" in settings.traces_exporters:
        parts.append(f"protocol={settings.otlp_protocol}")
        parts.append(f"endpoint={settings.otlp_traces_endpoint}")
    parts.append(f"processor={settings.span_processor}")
    parts.append(f"sampler={provider.sampler.get_description()}")
    return "tracing: " + " ".join(parts)


def build_tracing(settings: Settings) -> Tracing:
    """Build the service's tracing without touching any global state."""
    if settings.sdk_disabled:
        disabled = trace.NoOpTracerProvider()
        return Tracing(disabled, owned=False, summary=describe(settings, disabled))
    provider = build_tracer_provider(settings)
    return Tracing(provider, owned=True, summary=describe(settings, provider))


_install_lock = threading.Lock()
_installed: Tracing | None = None


def install_tracing(settings: Settings) -> Tracing:
    """Build the tracing and set its provider as the global one, once per process.

    The API accepts a global provider only once, so a second call returns the
    first result. When something else (auto-instrumentation, a host framework)
    set the global provider first, the service traces through that one and
    leaves its shutdown to its owner.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        existing = trace.get_tracer_provider()
        if not isinstance(existing, trace.ProxyTracerProvider):
            _installed = Tracing(existing, False, describe(settings, existing))
            return _installed
        _installed = build_tracing(settings)
        if _installed.enabled:
            trace.set_tracer_provider(_installed.provider)
        return _installed


def shutdown_tracer_provider(provider: trace.TracerProvider, timeout: float) -> bool:
    """Flush and shut the provider down, giving up after `timeout` seconds.

    The work runs on a daemon thread, so an exporter stuck on a dead collector
    can delay the process's exit by `timeout` at most. Returns True when the
    provider finished in time.
    """
    if not isinstance(provider, TracerProvider):
        return True

    def flush_and_shutdown() -> None:
        provider.force_flush(timeout_millis=int(timeout * 1000))
        provider.shutdown()

    worker = threading.Thread(
        target=flush_and_shutdown, name="tracer-provider-shutdown", daemon=True
    )
    started = time.monotonic()
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        logger.warning(
            "tracing: gave up flushing spans after %.1f s; unsent spans are lost",
            time.monotonic() - started,
        )
        return False
    return True

"""Owns the tracer provider: its resource, exporters, span processors and shutdown.

The SDK reads the sampler, the batch limits and the exporter's headers, timeout,
compression and TLS itself; this module decides what it leaves to the service.
"""

import logging
import os
import sys
import threading

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
)

from . import __version__
from .export_health import OutageReportingExporter, endpoint_hint
from .redaction import RedactingSpanProcessor, redact_url
from .settings import Settings

logger = logging.getLogger(__name__)

# How long a span waits for the `simple` processor's worker thread.
SIMPLE_SCHEDULE_DELAY_MILLIS = 10


def build_resource() -> Resource:
    """Name and version; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win."""
    defaults = {SERVICE_NAME: __package__, SERVICE_VERSION: __version__}
    return Resource.create(defaults).merge(OTELResourceDetector().detect())


def build_otlp_exporter(settings: Settings) -> SpanExporter:
    """The exporter for the protocol in force (settings checked it is installed)."""
    if settings.traces_protocol == "grpc":
        # gRPC's C core writes a line per failed TLS handshake to stderr, past the
        # one line per outage; its errors still show. An operator's choice stands.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter,
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
    return OTLPSpanExporter(endpoint=settings.traces_endpoint)


def build_span_processor(
    settings: Settings, exporter: SpanExporter
) -> BatchSpanProcessor:
    """The batch processor; for `simple`, the same on a 10 ms schedule.

    Not the SDK's SimpleSpanProcessor, which exports on the thread that ends the
    span (here the event loop): a slow collector would hold every request.
    """
    delay = (
        SIMPLE_SCHEDULE_DELAY_MILLIS if settings.span_processor == "simple" else None
    )
    return BatchSpanProcessor(
        exporter,
        schedule_delay_millis=delay,
        max_export_batch_size=settings.export_batch_size,
    )


def build_tracer_provider(settings: Settings) -> TracerProvider:
    provider = TracerProvider(
        resource=build_resource(), active_span_processor=RedactingSpanProcessor()
    )
    for name in settings.traces_exporters:
        if name == "otlp":
            endpoint = settings.traces_endpoint
            exporter = OutageReportingExporter(
                build_otlp_exporter(settings),
                endpoint,
                endpoint_hint(settings.traces_protocol, endpoint),
            )
        elif name == "console":
            # Looked up now, not at import, so that redirected output gets spans.
            exporter = ConsoleSpanExporter(out=sys.stdout)
        else:
            continue
        provider.add_span_processor(build_span_processor(settings, exporter))
    return provider


def describe(settings: Settings, provider: trace.TracerProvider) -> str:
    """The one start-up line that says where spans go and how."""
    if settings.sdk_disabled:
        return "tracing disabled (OTEL_SDK_DISABLED=true): no spans are recorded"
    if not isinstance(provider, TracerProvider):
        return f"tracing through an externally configured {type(provider).__name__}"
    exporters = [name for name in settings.traces_exporters if name != "none"]
    parts = [
        f"service.name={provider.resource.attributes.get(SERVICE_NAME)}",
        f"exporter={','.join(exporters) or 'none'}",
    ]
    if "otlp" in exporters:
        parts.append(f"protocol={settings.traces_protocol}")
        parts.append(f"endpoint={redact_url(settings.traces_endpoint)}")
    parts.append(f"processor={settings.span_processor}")
    parts.append(f"sampler={provider.sampler.get_description()}")
    return "tracing: " + " ".join(parts)


def install_tracing(settings: Settings) -> trace.TracerProvider:
    """The global provider: the service's, set once per process.

    A provider set first by someone else (`opentelemetry-instrument`, a host
    framework) is the one the service traces with.
    """
    if settings.sdk_disabled:
        return trace.NoOpTracerProvider()
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(build_tracer_provider(settings))
    return trace.get_tracer_provider()


def shut_down(provider: trace.TracerProvider, timeout: float) -> bool:
    """Shut the provider down, its processors exporting every span they hold
    first, giving up after `timeout` seconds.

    The work runs on a daemon thread, so an exporter stuck on a dead collector
    delays the process's exit by `timeout` at most. True when it finished.
    """
    if not isinstance(provider, TracerProvider):
        return True
    worker = threading.Thread(target=provider.shutdown, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        logger.warning(
            "tracing: gave up flushing spans after %.1f s; unsent spans are lost",
            timeout,
        )
    return not worker.is_alive()

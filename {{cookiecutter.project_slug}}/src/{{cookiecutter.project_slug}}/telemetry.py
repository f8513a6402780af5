"""Owns the tracer and meter providers: their resource, exporters, and shutdown.

The SDK reads the sampler, the batch limits and the exporters' headers, timeout,
compression and TLS itself; this module decides what it leaves to the service.
Both providers share one resource, so a metric's series and its exemplars' traces
name the same service instance.
"""

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    PeriodicExportingMetricReader,
)
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
from .export_health import (
    OutageReportingExporter,
    OutageReportingMetricExporter,
    endpoint_hint,
)
from .redaction import RedactingSpanProcessor, redact_url
from .settings import Settings, Signal

logger = logging.getLogger(__name__)

EXEMPLAR_FILTERS: dict[str, type[ExemplarFilter]] = {
    "trace_based": TraceBasedExemplarFilter,
    "always_on": AlwaysOnExemplarFilter,
    "always_off": AlwaysOffExemplarFilter,
}


def build_resource() -> Resource:
    """Name and version; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win."""
    defaults = {SERVICE_NAME: __package__, SERVICE_VERSION: __version__}
    return Resource.create(defaults).merge(OTELResourceDetector().detect())


def build_otlp_exporter(settings: Settings, signal: Signal = "traces") -> Any:
    """The signal's exporter for its protocol (settings checked it is installed)."""
    endpoint = settings.endpoint(signal)
    if settings.protocol(signal) == "grpc":
        # gRPC's C core writes a line per failed TLS handshake to stderr, past the
        # one line per outage; its errors still show. An operator's choice stands.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        import opentelemetry.exporter.otlp.proto.grpc.metric_exporter as grpc_metrics
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter as grpc_traces

        if signal == "traces":
            return grpc_traces.OTLPSpanExporter(endpoint=endpoint)
        return grpc_metrics.OTLPMetricExporter(endpoint=endpoint)
    import opentelemetry.exporter.otlp.proto.http.metric_exporter as http_metrics
    import opentelemetry.exporter.otlp.proto.http.trace_exporter as http_traces

    if signal == "traces":
        return http_traces.OTLPSpanExporter(endpoint=endpoint)
    return http_metrics.OTLPMetricExporter(endpoint=endpoint)


def build_exporters(settings: Settings, signal: Signal) -> list[Any]:
    """The exporters OTEL_TRACES_EXPORTER or OTEL_METRICS_EXPORTER names."""
    traces = signal == "traces"
    exporters: list[Any] = []
    for name in settings.traces_exporters if traces else settings.metrics_exporters:
        if name == "otlp":
            endpoint = settings.endpoint(signal)
            hint = endpoint_hint(settings.protocol(signal), endpoint)
            inner = build_otlp_exporter(settings, signal)
            wrap = OutageReportingExporter if traces else OutageReportingMetricExporter
            exporters.append(wrap(inner, endpoint, hint))
        elif name == "console":
            # Looked up now, not at import, so that redirected output gets them.
            console = ConsoleSpanExporter if traces else ConsoleMetricExporter
            exporters.append(console(out=sys.stdout))
    return exporters


def build_span_processor(
    settings: Settings, exporter: SpanExporter
) -> BatchSpanProcessor:
    """The batch processor; for `simple`, the same on a 10 ms schedule.

    Not the SDK's SimpleSpanProcessor, which exports on the thread that ends the
    span (here the event loop): a slow collector would hold every request.
    """
    return BatchSpanProcessor(
        exporter,
        schedule_delay_millis=10 if settings.span_processor == "simple" else None,
        max_export_batch_size=settings.export_batch_size,
    )


def build_tracer_provider(settings: Settings) -> TracerProvider:
    provider = TracerProvider(
        resource=build_resource(),
        # The SDK's SynchronousMultiSpanProcessor.__init__ lacks "-> None".
        active_span_processor=RedactingSpanProcessor(),  # type: ignore[no-untyped-call]
    )
    for exporter in build_exporters(settings, "traces"):
        provider.add_span_processor(build_span_processor(settings, exporter))
    return provider


def build_meter_provider(settings: Settings) -> MeterProvider:
    """Each exporter read every OTEL_METRIC_EXPORT_INTERVAL; exemplars as
    OTEL_METRICS_EXEMPLAR_FILTER says (by default, of sampled spans only)."""
    readers = [
        PeriodicExportingMetricReader(
            exporter, export_interval_millis=settings.metric_export_interval
        )
        for exporter in build_exporters(settings, "metrics")
    ]
    return MeterProvider(
        readers,
        resource=build_resource(),
        exemplar_filter=EXEMPLAR_FILTERS[settings.exemplar_filter](),
        # The app's lifespan shuts it down; a second shutdown at exit would warn.
        shutdown_on_exit=False,
    )


def destination(settings: Settings, signal: Signal, names: Sequence[str]) -> list[str]:
    """The exporters named and, for OTLP, its protocol and endpoint (redacted)."""
    exporters = [name for name in names if name != "none"]
    parts = [f"exporter={','.join(exporters) or 'none'}"]
    if "otlp" in exporters:
        parts.append(f"protocol={settings.protocol(signal)}")
        parts.append(f"endpoint={redact_url(settings.endpoint(signal))}")
    return parts


def describe(settings: Settings, provider: trace.TracerProvider) -> str:
    """The start-up line that says where spans go and how."""
    if settings.sdk_disabled:
        return "telemetry disabled (OTEL_SDK_DISABLED=true): no spans or metrics"
    if not isinstance(provider, TracerProvider):
        return f"tracing through an externally configured {type(provider).__name__}"
    parts = [
        f"service.name={provider.resource.attributes.get(SERVICE_NAME)}",
        *destination(settings, "traces", settings.traces_exporters),
        f"processor={settings.span_processor}",
        f"sampler={provider.sampler.get_description()}",
    ]
    return "tracing: " + " ".join(parts)


def describe_metrics(settings: Settings, provider: metrics.MeterProvider | None) -> str:
    """The start-up line that says where metrics go and how often."""
    if provider is None:
        return "metrics: none (OTEL_METRICS_EXPORTER or OTEL_SDK_DISABLED)"
    if not isinstance(provider, MeterProvider):
        return f"metrics through an externally configured {type(provider).__name__}"
    parts = [
        *destination(settings, "metrics", settings.metrics_exporters),
        f"every={settings.metric_export_interval / 1000:g}s",
        f"exemplars={settings.exemplar_filter}",
    ]
    return "metrics: " + " ".join(parts)


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


def install_metrics(settings: Settings) -> metrics.MeterProvider | None:
    """The global meter provider, as `install_tracing`; None, and no cost at
    all, when no exporter is named or the SDK is disabled."""
    if settings.sdk_disabled or set(settings.metrics_exporters) <= {"none"}:
        return None
    # The API has no public "none set yet"; any but the SDK's provider counts.
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(build_meter_provider(settings))
    return metrics.get_meter_provider()


def shut_down(providers: Sequence[object], timeout: float) -> bool:
    """Shut the SDK's providers down, each exporting what it holds first, all
    within `timeout` seconds.

    Each runs on a daemon thread, so an exporter stuck on a dead collector
    delays the process's exit by `timeout` at most. True when all finished.
    """
    owned = [p for p in providers if isinstance(p, TracerProvider | MeterProvider)]
    workers = [threading.Thread(target=p.shutdown, daemon=True) for p in owned]
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    if stuck := sum(worker.is_alive() for worker in workers):
        logger.warning(
            "telemetry: gave up flushing %d of %d providers after %.1f s; "
            "what they held is lost",
            stuck,
            len(workers),
            timeout,
        )
    return not stuck

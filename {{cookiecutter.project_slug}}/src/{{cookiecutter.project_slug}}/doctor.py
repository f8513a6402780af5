"""Owns `python -m <package> doctor`: would this service's spans reach a backend?

With the settings the service would serve with, it checks what differs between
environments: spans recorded and exported at all, the collector accepting a real
span, the downstream answering. The code's wiring is the test suite's to prove.
"""

import logging
import urllib.error
import urllib.request

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from .export_health import OutageReportingExporter, endpoint_hint
from .routes import HEALTH_PATH
from .settings import DOWNSTREAM_SERVICE, Settings
from .telemetry import build_otlp_exporter, build_resource, describe

PROBE_SPAN_NAME = "doctor.probe"
# Seconds the exporter gets for the probe, its own retries included.
PROBE_TIMEOUT = 3.0
DOWNSTREAM_TIMEOUT = 2.0
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


def check_recording(settings: Settings, provider: TracerProvider) -> tuple[str, str]:
    sampler = provider.sampler.get_description()
    if settings.sdk_disabled:
        return FAIL, "tracing is disabled (OTEL_SDK_DISABLED=true): no spans"
    if not set(settings.traces_exporters) - {"none"}:
        return FAIL, "OTEL_TRACES_EXPORTER=none: spans are made and sent nowhere"
    ratio_zero = settings.sampler == "traceidratio" and settings.sampler_arg == 0
    if sampler == "AlwaysOffSampler" or ratio_zero:
        return FAIL, f"sampler {sampler}: no span is ever recorded"
    return PASS, f"{settings.span_processor} processor, sampler {sampler}"


def check_collector(settings: Settings) -> tuple[str, str]:
    if settings.sdk_disabled or "otlp" not in settings.traces_exporters:
        return SKIP, "no OTLP export"
    endpoint, protocol = settings.traces_endpoint, settings.traces_protocol
    where = f"{endpoint} ({protocol})"
    # Recorded whatever the sampler in force: the probe must leave.
    provider = TracerProvider(sampler=ALWAYS_ON, resource=build_resource())
    probe = provider.get_tracer(__name__).start_span(PROBE_SPAN_NAME)
    probe.end()
    exporter = OutageReportingExporter(
        build_otlp_exporter(settings, timeout=PROBE_TIMEOUT),
        where,
        endpoint_hint(protocol, endpoint),
    )
    try:
        result = exporter.export([probe])  # type: ignore[list-item]
    finally:
        exporter.shutdown()
    if result is SpanExportResult.SUCCESS:
        return PASS, f"{where} accepted the probe span {PROBE_SPAN_NAME}"
    return FAIL, (
        f"{where} did not accept the probe span within {PROBE_TIMEOUT:.0f} s: "
        f"{exporter.reason}{exporter.hint}"
    )


def check_downstream(settings: Settings) -> tuple[str, str]:
    if DOWNSTREAM_SERVICE is None:
        return SKIP, "this service has no downstream client"
    url = f"{settings.downstream_url.rstrip('/')}{HEALTH_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=DOWNSTREAM_TIMEOUT) as response:
            return PASS, f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        return FAIL, f"{url} answered HTTP {error.code}"
    except OSError as error:
        return FAIL, f"{url} unreachable: {getattr(error, 'reason', error)}"


def run_doctor(settings: Settings) -> int:
    """Print one line per check; 0 when none failed, 1 otherwise."""
    # The report is the output: the service's own log lines stay out of it.
    logging.getLogger(__package__).addHandler(logging.NullHandler())
    provider = TracerProvider(resource=build_resource())
    print(f"{__package__} doctor: {describe(settings, provider)}")
    checks = {
        "spans recorded": lambda: check_recording(settings, provider),
        "collector": lambda: check_collector(settings),
        "downstream": lambda: check_downstream(settings),
    }
    failed = []
    try:
        for name, check in checks.items():
            status, detail = check()
            print(f"{status}  {name:<15} {detail}", flush=True)
            if status == FAIL:
                failed.append(name)
    finally:
        provider.shutdown()
    print(
        f"doctor: {len(failed)} failed: {', '.join(failed)}"
        if failed
        else "doctor: every check passed"
    )
    return 1 if failed else 0

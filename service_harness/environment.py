"""The one environment scrubber: what every service the harness runs starts with.

The generated service reads every OTEL_* and SERVICE_* variable, so a value
left in the caller's shell would leak into a run whose whole point is a known
configuration. A service gets the caller's environment minus those variables,
then the variables its run sets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SERVICE_VARIABLE_PREFIXES = ("OTEL_", "SERVICE_")


def scrubbed_environment(
    *settings: Mapping[str, str], drop: tuple[str, ...] = ()
) -> dict[str, str]:
    """The caller's environment without the service's variables (and any other
    prefix in ``drop``), then ``settings``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(SERVICE_VARIABLE_PREFIXES + drop)
    }
    for variables in settings:
        environment.update(variables)
    return environment


def tracing_environment(
    protocol: str, endpoint: str, processor: str | None = None
) -> dict[str, str]:
    """Spans exported over OTLP ``protocol`` to ``endpoint`` (a base URL)."""
    environment = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
    }
    if processor is not None:
        environment["SERVICE_SPAN_PROCESSOR"] = processor
    return environment

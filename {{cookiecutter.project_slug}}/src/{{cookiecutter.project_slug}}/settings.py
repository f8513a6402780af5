"""The service's settings: the template's answers as defaults, the environment on top.

This is the only module the template fills in. Everything else reads its settings
from here, so changing a default after generation means editing one line below.
The standard OTEL_* variables are read where the OpenTelemetry SDK reads them; the
variables below are the service's own (see the README's table).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import urlsplit

SERVICE_SLUG = {{ cookiecutter.project_slug | tojson }}
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = {{ cookiecutter.service_port | int }}
DEFAULT_OTLP_PROTOCOL = {{ cookiecutter.otlp_protocol | tojson }}
DEFAULT_OTLP_ENDPOINT = {{ cookiecutter.otlp_endpoint | tojson }}
DEFAULT_SPAN_PROCESSOR = {{ cookiecutter.span_processor | tojson }}
{%- if cookiecutter.include_downstream_client %}
DEFAULT_DOWNSTREAM_URL: str | None = {{ cookiecutter.downstream_url.rstrip("/") | tojson }}
DEFAULT_DOWNSTREAM_SERVICE: str | None = {{ cookiecutter.downstream_service | tojson }}
{%- else %}
DEFAULT_DOWNSTREAM_URL: str | None = None
DEFAULT_DOWNSTREAM_SERVICE: str | None = None
{%- endif %}
DEFAULT_DOWNSTREAM_CONNECT_TIMEOUT = 1.0
DEFAULT_DOWNSTREAM_READ_TIMEOUT = 5.0
DEFAULT_SHUTDOWN_TIMEOUT = 3.0
DEFAULT_LOG_FORMAT = "text"
# Spans per export unless OTEL_BSP_MAX_EXPORT_BATCH_SIZE says otherwise. Encoding
# spans for OTLP holds the GIL, so each export pauses the event loop: the SDK's
# 512 made that a pause of tens of milliseconds and p99 latency 6-8x untraced;
# 32 keeps it about 3x at the same throughput (the template's benchmarks).
DEFAULT_EXPORT_BATCH_SIZE = 32
# The SDK's own default for OTEL_BSP_MAX_QUEUE_SIZE.
SDK_QUEUE_SIZE = 2048

SPAN_PROCESSORS = ("batch", "simple")
BUILT_IN_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
BATCH_PROCESSOR_INTEGERS = (
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
)
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
TRACES_EXPORTERS = ("otlp", "console", "none")
LOG_FORMATS = ("text", "json")


class ConfigurationError(ValueError):
    """A setting has a value the service cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Every setting in force; build it with `Settings.from_environ`."""

    service_slug: str
    host: str
    port: int
    otlp_protocol: str
    otlp_traces_endpoint: str
    span_processor: str
    traces_exporters: tuple[str, ...]
    sdk_disabled: bool
    operation_spans: bool
    downstream_url: str | None
    downstream_service: str | None
    downstream_connect_timeout: float
    downstream_read_timeout: float
    shutdown_timeout: float
    log_format: str
    access_log: bool

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read the settings, letting the environment override each default."""
        env = os.environ if environ is None else environ
        check_sdk_variables(env)
        protocol = _choice(
            env,
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
            OTLP_PROTOCOLS,
            DEFAULT_OTLP_PROTOCOL,
        )
        return cls(
            service_slug=SERVICE_SLUG,
            host=_text(env, "SERVICE_HOST", DEFAULT_HOST) or DEFAULT_HOST,
            port=_port(env, "SERVICE_PORT", DEFAULT_PORT),
            otlp_protocol=protocol,
            otlp_traces_endpoint=_traces_endpoint(env, protocol),
            span_processor=_choice(
                env,
                ("SERVICE_SPAN_PROCESSOR",),
                SPAN_PROCESSORS,
                DEFAULT_SPAN_PROCESSOR,
            ),
            traces_exporters=_traces_exporters(env),
            sdk_disabled=_flag(env, "OTEL_SDK_DISABLED", default=False),
            operation_spans=_flag(env, "SERVICE_OPERATION_SPANS", default=False),
            # Without the client stub there is nothing to point elsewhere.
            downstream_url=_downstream_url(env)
            if DEFAULT_DOWNSTREAM_SERVICE is not None
            else None,
            downstream_service=DEFAULT_DOWNSTREAM_SERVICE,
            downstream_connect_timeout=_seconds(
                env,
                "SERVICE_DOWNSTREAM_CONNECT_TIMEOUT",
                DEFAULT_DOWNSTREAM_CONNECT_TIMEOUT,
            ),
            downstream_read_timeout=_seconds(
                env, "SERVICE_DOWNSTREAM_READ_TIMEOUT", DEFAULT_DOWNSTREAM_READ_TIMEOUT
            ),
            shutdown_timeout=_seconds(
                env, "SERVICE_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT
            ),
            log_format=_choice(
                env, ("SERVICE_LOG_FORMAT",), LOG_FORMATS, DEFAULT_LOG_FORMAT
            ),
            access_log=_flag(env, "SERVICE_ACCESS_LOG", default=True),
        )


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _text(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    value = _raw(env, name)
    return value.rstrip("/") if value else default


def _choice(
    env: Mapping[str, str],
    names: tuple[str, ...],
    choices: tuple[str, ...],
    default: str,
) -> str:
    for name in names:
        value = _raw(env, name)
        if value is None:
            continue
        if value.lower() not in choices:
            raise ConfigurationError(
                f"{name} must be one of {', '.join(choices)}, got {value!r}"
            )
        return value.lower()
    return default


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ConfigurationError(f"{name} must be true or false, got {value!r}")
    return value.lower() == "true"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigurationError(
            f"{name} must be a positive number of seconds, got {value!r}"
        )
    return seconds


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigurationError(
            f"{name} must be a port from 1 to 65535, got {value!r}"
        )
    return int(value)


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{name} must be an http:// or https:// URL with a host, got {value!r}"
        )
    return value


def _grpc_target(name: str, value: str) -> str:
    """A URL, or host:port without a scheme (which the SDK takes to mean TLS)."""
    if "://" in value:
        return _http_url(name, value)
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or " " in value:
        raise ConfigurationError(
            f"{name} must be http(s)://host:port or host:port, got {value!r}"
        )
    return value


def _downstream_url(env: Mapping[str, str]) -> str | None:
    value = _text(env, "SERVICE_DOWNSTREAM_URL", None)
    if value is None:
        return DEFAULT_DOWNSTREAM_URL
    return _http_url("SERVICE_DOWNSTREAM_URL", value)


def check_sdk_variables(env: Mapping[str, str]) -> None:
    """Refuse values the SDK would silently replace with a default, or crash on.

    The SDK reads these itself; a typo in one would otherwise leave tracing
    quietly misconfigured (a negative timeout drops every export).
    """
    for name in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"):
        _seconds(env, name, 10.0)
    for name in BATCH_PROCESSOR_INTEGERS:
        _positive_integer(env, name)
    queue = _positive_integer(env, "OTEL_BSP_MAX_QUEUE_SIZE") or SDK_QUEUE_SIZE
    # Unset, the batch size is the service's own default, kept within the queue.
    batch = _positive_integer(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
    if batch is not None and batch > queue:
        raise ConfigurationError(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not exceed OTEL_BSP_MAX_QUEUE_SIZE"
            f" ({batch} > {queue})"
        )
    sampler = _raw(env, "OTEL_TRACES_SAMPLER")
    if sampler is not None and sampler.lower() not in _known_samplers():
        raise ConfigurationError(
            f"OTEL_TRACES_SAMPLER must be one of {', '.join(sorted(_known_samplers()))}"
            f", got {sampler!r}"
        )
    if sampler is not None and sampler.lower().endswith("traceidratio"):
        _ratio(env, "OTEL_TRACES_SAMPLER_ARG")


def _known_samplers() -> set[str]:
    plugins = entry_points(group="opentelemetry_traces_sampler")
    return set(BUILT_IN_SAMPLERS) | {plugin.name for plugin in plugins}


def export_batch_size(env: Mapping[str, str]) -> int | None:
    """The service's batch size, or None when the variable sets it (the SDK reads it).

    Never larger than the queue (OTEL_BSP_MAX_QUEUE_SIZE), which the SDK requires.
    """
    if _positive_integer(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE") is not None:
        return None
    queue = _positive_integer(env, "OTEL_BSP_MAX_QUEUE_SIZE") or SDK_QUEUE_SIZE
    return min(DEFAULT_EXPORT_BATCH_SIZE, queue)


def _positive_integer(env: Mapping[str, str], name: str) -> int | None:
    value = _raw(env, name)
    if value is None:
        return None
    if not value.isdigit() or int(value) == 0:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _ratio(env: Mapping[str, str], name: str) -> None:
    value = _raw(env, name)
    if value is None:
        return
    try:
        ratio = float(value)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise ConfigurationError(f"{name} must be a number from 0 to 1, got {value!r}")


def _traces_endpoint(env: Mapping[str, str], protocol: str) -> str:
    """Resolve the traces endpoint by the SDK's rules, so the startup log is true.

    The traces-specific variable is used as it is. The generic one, like the
    template's answer, is the collector's base URL: over HTTP it gets /v1/traces
    appended; over gRPC it is the address itself, and without a scheme it means TLS.
    """
    check = _http_url if protocol == "http/protobuf" else _grpc_target
    specific = _raw(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific is not None:
        return check("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", specific)
    base = _raw(env, "OTEL_EXPORTER_OTLP_ENDPOINT")
    if base is not None:
        check("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    base = base or DEFAULT_OTLP_ENDPOINT
    if protocol == "http/protobuf":
        return base.removesuffix("/") + "/v1/traces"
    return base


def _traces_exporters(env: Mapping[str, str]) -> tuple[str, ...]:
    value = _raw(env, "OTEL_TRACES_EXPORTER")
    if value is None:
        return ("otlp",)
    names = tuple(
        dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip())
    )
    unknown = [name for name in names if name not in TRACES_EXPORTERS]
    if unknown or not names:
        raise ConfigurationError(
            "OTEL_TRACES_EXPORTER must be a comma-separated list of "
            f"{', '.join(TRACES_EXPORTERS)}, got {value!r}"
        )
    return tuple(name for name in names if name != "none")

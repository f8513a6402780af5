"""Owns the service's settings: the template's answers, the environment on top.

Your answers are the defaults below (the one module the template wrote them
into). A setting of your own is a typed field with its default; `SERVICE_<NAME>`
overrides it. The `OTEL_*` variables are the SDK's to read; they are declared
here so that a value the SDK would silently replace stops the service with one
line naming the variable.
"""

import logging
import re
import sys
from importlib.metadata import entry_points
from importlib.util import find_spec
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from opentelemetry.util.re import parse_env_headers
from pydantic import (
    AfterValidator,
    AliasGenerator,
    BeforeValidator,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Spans per export unless OTEL_BSP_MAX_EXPORT_BATCH_SIZE says otherwise: smaller
# than the SDK's 512, because encoding a batch holds the GIL and so pauses the
# event loop (figures in the template's docs/design-decisions.md).
DEFAULT_EXPORT_BATCH_SIZE = 32
# Not a setting: the downstream's slug, fixed when the project was generated.
# The example route calls the downstream's own, /{DOWNSTREAM_SERVICE}; errors
# name it. None: generated without the downstream client.
{%- if cookiecutter.include_downstream_client %}
DOWNSTREAM_SERVICE: str | None = {{ cookiecutter.downstream_service | tojson }}
{%- else %}
DOWNSTREAM_SERVICE: str | None = None
{%- endif %}

Signal = Literal["traces", "metrics"]
SIGNALS: tuple[Signal, ...] = get_args(Signal)


def _lower(value: object) -> object:
    # The OpenTelemetry specification reads enum values case-insensitively.
    return value.lower() if isinstance(value, str) else value


def _names(value: object) -> object:
    if isinstance(value, str):
        names = (name.strip().lower() for name in value.split(","))
        return tuple(dict.fromkeys(name for name in names if name))
    return value


def _http_url(value: str) -> str:
    rule = "must be an http:// or https:// URL with a host, no query or fragment"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises for a port that is no number
    except ValueError:
        raise ValueError(rule) from None  # its own message would quote the URL
    # An @ past the host: a password with an unencoded / ? or #.
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(rule)
    return value


def _collector_address(value: str, info: ValidationInfo) -> str:
    # The base endpoint serves both signals; a signal's own, that signal.
    signals = [s for s in SIGNALS if s in str(info.field_name)] or SIGNALS
    data = info.data
    protocols = {
        data.get(f"otlp_{s}_protocol") or data.get("otlp_protocol") for s in signals
    }
    # gRPC also takes host:port, which the SDK dials with TLS.
    if protocols == {"grpc"} and re.fullmatch(r"[A-Za-z0-9_.-]+:[0-9]{1,5}", value):
        return value
    url = _http_url(value)
    if "grpc" in protocols and urlsplit(url).username is not None:
        # The channel would fail on the name and lose every span and point.
        raise ValueError(
            "must carry no user:password@ over gRPC, which cannot send them; "
            "put credentials in OTEL_EXPORTER_OTLP_HEADERS"
        )
    return url


def _exporter_headers(value: SecretStr) -> SecretStr:
    # The SDK would drop a malformed header with a warning that quotes it.
    dropped: list[logging.LogRecord] = []

    def capture(record: logging.LogRecord) -> bool:
        dropped.append(record)
        return False  # not logged: it would quote the header

    sdk_logger = logging.getLogger(parse_env_headers.__module__)
    sdk_logger.addFilter(capture)
    try:
        parse_env_headers(value.get_secret_value(), liberal=True)
    finally:
        sdk_logger.removeFilter(capture)
    if dropped:
        raise ValueError("must be comma-separated name=value pairs, values URL-encoded")
    return value


def _installed_propagators(names: tuple[str, ...]) -> tuple[str, ...]:
    # The API registers tracecontext and baggage as entry points too.
    for name in set(names) - {"none"}:
        if not entry_points(group="opentelemetry_propagator", name=name):
            raise ValueError("each name must be none or an installed propagator's")
    return names


Choice = BeforeValidator(_lower)
Exporters = Annotated[
    tuple[Literal["otlp", "console", "none"], ...], NoDecode, BeforeValidator(_names)
]
CollectorAddress = Annotated[str, AfterValidator(_collector_address)]
ExporterHeaders = Annotated[SecretStr, AfterValidator(_exporter_headers)]
Protocol = Annotated[Literal["grpc", "http/protobuf"], Choice]


def sdk(variable: str, default: Any = None) -> Any:
    """A field read from one of the SDK's own variables."""
    return Field(default, validation_alias=variable)


class Settings(BaseSettings):
    """Every setting in force. `Settings()` reads the environment."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(lambda field: f"SERVICE_{field.upper()}"),
        env_ignore_empty=True,
        frozen=True,
        # A ValidationError's text must not quote a URL or a header either.
        hide_input_in_errors=True,
    )

    host: str = "127.0.0.1"
    port: int = Field({{ cookiecutter.service_port | int }}, ge=1, le=65535)
    # `simple` sends each span within milliseconds of its end, from the batch
    # processor's thread (telemetry.build_span_processor says why).
    span_processor: Annotated[Literal["batch", "simple"], Choice] = {{ cookiecutter.span_processor | tojson }}
    operation_spans: bool = False
    shutdown_timeout: PositiveFloat = 3.0
    log_format: Annotated[Literal["text", "json"], Choice] = "text"
    access_log: bool = True
{%- if cookiecutter.include_downstream_client %}
    downstream_url: Annotated[str, AfterValidator(_http_url)] = Field(
        {{ cookiecutter.downstream_url.rstrip("/") | tojson }},
    )
    downstream_connect_timeout: PositiveFloat = 1.0
    downstream_read_timeout: PositiveFloat = 5.0
{%- endif %}

    sdk_disabled: bool = sdk("OTEL_SDK_DISABLED", False)
    traces_exporters: Exporters = sdk("OTEL_TRACES_EXPORTER", ("otlp",))
    metrics_exporters: Exporters = sdk("OTEL_METRICS_EXPORTER", ("otlp",))
    otlp_traces_protocol: Protocol | None = sdk("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    otlp_metrics_protocol: Protocol | None = sdk("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
    otlp_protocol: Protocol = sdk("OTEL_EXPORTER_OTLP_PROTOCOL", {{ cookiecutter.otlp_protocol | tojson }})
    otlp_endpoint: CollectorAddress = sdk(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        {{ cookiecutter.otlp_endpoint | tojson }},
    )
    otlp_traces_endpoint: CollectorAddress | None = sdk(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    otlp_metrics_endpoint: CollectorAddress | None = sdk(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
    )
    # Read by the exporters; declared to refuse what they would drop, kept secret.
    otlp_headers: ExporterHeaders | None = sdk("OTEL_EXPORTER_OTLP_HEADERS")
    otlp_traces_headers: ExporterHeaders | None = sdk(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
    )
    otlp_metrics_headers: ExporterHeaders | None = sdk(
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS"
    )
    otlp_timeout: PositiveFloat | None = sdk("OTEL_EXPORTER_OTLP_TIMEOUT")
    otlp_traces_timeout: PositiveFloat | None = sdk("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
    otlp_metrics_timeout: PositiveFloat | None = sdk(
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"
    )
    # TracerProvider() knows only the built-in samplers; any other name would
    # silently become parentbased_always_on.
    sampler: Annotated[
        Literal[
            "always_on",
            "always_off",
            "traceidratio",
            "parentbased_always_on",
            "parentbased_always_off",
            "parentbased_traceidratio",
        ],
        Choice,
    ] = sdk("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    sampler_arg: Annotated[float, Field(ge=0, le=1)] | None = sdk(
        "OTEL_TRACES_SAMPLER_ARG"
    )
    propagators: Annotated[
        tuple[str, ...],
        NoDecode,
        BeforeValidator(_names),
        AfterValidator(_installed_propagators),
    ] = sdk("OTEL_PROPAGATORS", ("tracecontext", "baggage"))
    schedule_delay: PositiveInt | None = sdk("OTEL_BSP_SCHEDULE_DELAY")
    export_timeout: PositiveInt | None = sdk("OTEL_BSP_EXPORT_TIMEOUT")
    queue_size: PositiveInt = sdk("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
    export_batch_size: PositiveInt | None = sdk("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
    # Milliseconds, as the SDK's variables.
    metric_export_interval: PositiveInt = sdk("OTEL_METRIC_EXPORT_INTERVAL", 60_000)
    metric_export_timeout: PositiveInt | None = sdk("OTEL_METRIC_EXPORT_TIMEOUT")
    # Passed to the meter provider, which reads the variable in lower case only.
    exemplar_filter: Annotated[
        Literal["trace_based", "always_on", "always_off"], Choice
    ] = sdk("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based")

    @field_validator("otlp_traces_protocol", "otlp_metrics_protocol", "otlp_protocol")
    @classmethod
    def _exporter_installed(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A signal's own variable, when set, is the one that decides for it.
        own = [info.data.get(f"otlp_{signal}_protocol") for signal in SIGNALS]
        if value is None or (info.field_name == "otlp_protocol" and None not in own):
            return value
        module = "grpc" if value == "grpc" else "http"
        # The other exporter shares the parent package, so this never raises.
        if find_spec(f"opentelemetry.exporter.otlp.proto.{module}") is None:
            raise ValueError(
                f"{value} needs the package opentelemetry-exporter-otlp-proto-"
                f"{module}, which is not installed"
            )
        return value

    @field_validator("export_batch_size")
    @classmethod
    def _within_the_queue(cls, size: int | None, info: ValidationInfo) -> int:
        queue: int = info.data.get("queue_size", 1)
        if size is None:
            return min(DEFAULT_EXPORT_BATCH_SIZE, queue)
        if size > queue:
            raise ValueError(f"must not exceed OTEL_BSP_MAX_QUEUE_SIZE ({queue})")
        return size

    def protocol(self, signal: Signal) -> str:
        return getattr(self, f"otlp_{signal}_protocol") or self.otlp_protocol

    def endpoint(self, signal: Signal) -> str:
        """By the SDK's rules: the signal's own variable as given, else the base
        URL, with /v1/<signal> added over HTTP."""
        own: str | None = getattr(self, f"otlp_{signal}_endpoint")
        if own:
            return own
        if self.protocol(signal) == "http/protobuf":
            return f"{self.otlp_endpoint.removesuffix('/')}/v1/{signal}"
        return self.otlp_endpoint


def load_settings() -> Settings:
    """The settings in force, or one line naming the bad variable and its rule,
    and an exit: serving without the tracing asked for, or a traceback, would be
    worse. Never the value: URLs and headers carry credentials."""
    try:
        return Settings()
    except ValidationError as error:
        problem = error.errors()[0]
        variable = problem["loc"][0]
        message = problem["msg"].removeprefix("Value error, ")
        print(
            f"{__package__}: configuration error: {variable}: {message}",
            file=sys.stderr,
        )
        # 3 is the start-up failure code of uvicorn and gunicorn: their
        # supervisors stop instead of restarting the worker forever.
        raise SystemExit(3) from None

"""Settings: the template's answers as defaults, the environment on top.

The defaults that come from the answers are checked against the answers by the
template's own tests; these prove what the environment does to them.
"""

import contextlib
import logging
import sys

import pytest
from pydantic import ValidationError

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE, Settings, load_settings

from loopback_collector import EXPORTER_MODULES, needs_exporter

needs_client = pytest.mark.skipif(
    DOWNSTREAM_SERVICE is None, reason="generated without the downstream client"
)


def set_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def refusal(monkeypatch: pytest.MonkeyPatch, capsys, **variables: str) -> str:
    """The one line load_settings() prints before it exits with status 3."""
    set_environment(monkeypatch, **variables)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert stopped.value.code == 3
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_defaults_the_template_does_not_ask_about():
    expected = {
        "host": "127.0.0.1",
        "operation_spans": False,
        "log_format": "text",
        "access_log": True,
        "sdk_disabled": False,
        "traces_exporters": ("otlp",),
        "sampler": "parentbased_always_on",
        "sampler_arg": None,
        "queue_size": 2048,
        "export_batch_size": 32,
    }

    assert Settings().model_dump(include=set(expected)) == expected


# variable: (value, setting, value read); case, spaces and repeats do not matter.
OVERRIDES = {
    "SERVICE_PORT": ("9100", "port", 9100),
    "SERVICE_HOST": ("0.0.0.0", "host", "0.0.0.0"),
    "SERVICE_SPAN_PROCESSOR": ("SIMPLE", "span_processor", "simple"),
    "SERVICE_OPERATION_SPANS": ("true", "operation_spans", True),
    "SERVICE_SHUTDOWN_TIMEOUT": ("2.5", "shutdown_timeout", 2.5),
    "SERVICE_LOG_FORMAT": ("JSON", "log_format", "json"),
    "SERVICE_ACCESS_LOG": ("false", "access_log", False),
    "OTEL_TRACES_EXPORTER": (
        " Console, otlp, OTLP ",
        "traces_exporters",
        ("console", "otlp"),
    ),
    "OTEL_SDK_DISABLED": ("TRUE", "sdk_disabled", True),
    "OTEL_EXPORTER_OTLP_TIMEOUT": ("2.5", "otlp_timeout", 2.5),
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": ("1.5", "otlp_traces_timeout", 1.5),
    "OTEL_BSP_SCHEDULE_DELAY": ("250", "schedule_delay", 250),
    "OTEL_BSP_EXPORT_TIMEOUT": ("1000", "export_timeout", 1000),
    "OTEL_BSP_MAX_QUEUE_SIZE": ("4096", "queue_size", 4096),
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": ("256", "export_batch_size", 256),
    "OTEL_TRACES_SAMPLER": (
        "ParentBased_TraceIdRatio",
        "sampler",
        "parentbased_traceidratio",
    ),
    "OTEL_TRACES_SAMPLER_ARG": ("0.1", "sampler_arg", 0.1),
    "OTEL_PROPAGATORS": (
        " TraceContext,baggage ,none",
        "propagators",
        ("tracecontext", "baggage", "none"),
    ),
}


@pytest.mark.parametrize("port", ["1", "65535"])
def test_every_tcp_port_from_1_to_65535_is_accepted(monkeypatch, port):
    monkeypatch.setenv("SERVICE_PORT", port)

    assert Settings().port == int(port)


def test_environment_overrides_every_setting(monkeypatch):
    set_environment(
        monkeypatch, **{name: value for name, (value, _, _) in OVERRIDES.items()}
    )
    read = Settings().model_dump()

    assert {name: read[setting] for name, (_, setting, _) in OVERRIDES.items()} == {
        name: expected for name, (_, _, expected) in OVERRIDES.items()
    }


@pytest.mark.parametrize(
    ("protocol", "endpoint", "expected"),
    [
        ("http/protobuf", "http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http/protobuf", "https://c.example:443", "https://c.example:443/v1/traces"),
        ("grpc", "collector:4317", "collector:4317"),
        ("grpc", "http://collector:4317", "http://collector:4317"),
    ],
)
def test_the_base_endpoint_gets_v1_traces_over_http_and_is_used_as_given_over_grpc(
    monkeypatch, protocol, endpoint, expected
):
    """The traces-specific endpoint, used as given, is proved in test_otlp_export."""
    needs_exporter(protocol)
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
    )

    assert Settings().endpoint("traces") == expected


def test_http_needs_a_url_where_grpc_takes_host_and_port(monkeypatch, capsys):
    needs_exporter("http/protobuf")

    line = refusal(
        monkeypatch,
        capsys,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318",
    )

    assert line == (
        f"{service.__name__}: configuration error: OTEL_EXPORTER_OTLP_ENDPOINT: "
        "must be an http:// or https:// URL with a host, no query or fragment"
    )


def test_grpc_takes_host_and_port_with_the_host_in_any_case(monkeypatch):
    needs_exporter("grpc")
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT="Collector.Example:4317",
    )

    assert Settings().endpoint("traces") == "Collector.Example:4317"


def test_a_signals_own_endpoint_answers_to_that_signals_protocol_alone(
    monkeypatch,
):
    for protocol in EXPORTER_MODULES:
        needs_exporter(protocol)
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="collector:4317",
    )

    assert Settings().endpoint("traces") == "collector:4317"


def test_each_signals_protocol_wins_and_only_its_exporter_is_needed(
    monkeypatch, capsys
):
    needs_exporter("http/protobuf")
    monkeypatch.setitem(sys.modules, EXPORTER_MODULES["grpc"], None)
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
    )
    settings = Settings()

    assert settings.protocol("traces") == settings.protocol("metrics")
    assert settings.endpoint("traces") == "http://collector:4318/v1/traces"
    assert settings.endpoint("metrics") == "http://collector:4318/v1/metrics"
    # A signal without its own variable follows the base one, which then counts.
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: grpc needs the package" in refusal(
        monkeypatch, capsys
    )


def test_the_protocols_using_an_endpoint_decide_whether_host_and_port_will_do(
    monkeypatch, capsys
):
    for protocol in EXPORTER_MODULES:
        needs_exporter(protocol)
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="collector:4317",
    )
    assert Settings().endpoint("traces") == "collector:4317"
    assert Settings().endpoint("metrics") == "collector:4317"

    # The base endpoint serves metrics over HTTP here: it needs a URL.
    line = refusal(monkeypatch, capsys, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http://" in line
    line = refusal(
        monkeypatch,
        capsys,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="collector:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="collector:4318",
    )
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be an http://" in line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SERVICE_SPAN_PROCESSOR", "eager"),
        ("SERVICE_PORT", "http"),
        ("SERVICE_PORT", "0"),
        ("SERVICE_OPERATION_SPANS", "yes please"),
        ("SERVICE_SHUTDOWN_TIMEOUT", "-1"),
        ("SERVICE_LOG_FORMAT", "xml"),
        ("SERVICE_ACCESS_LOG", "sometimes"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "-1"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1.5"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        # An entry point of the SDK's, in another group than propagators'.
        pytest.param("OTEL_PROPAGATORS", "random", id="id-generator-as-propagator"),
        # A plugin's name: TracerProvider() would silently sample everything.
        pytest.param("OTEL_TRACES_SAMPLER", "my_plugin_sampler", id="plugin-sampler"),
        pytest.param("OTEL_TRACES_SAMPLER_ARG", "half", id="unparsable-sampler-arg"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_TRACES_SAMPLER_ARG", "-0.1"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "0"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "soon"),
        pytest.param("SERVICE_DOWNSTREAM_URL", "localhost:8001", marks=needs_client),
        pytest.param("SERVICE_DOWNSTREAM_CONNECT_TIMEOUT", "0", marks=needs_client),
        pytest.param("SERVICE_DOWNSTREAM_READ_TIMEOUT", "-1", marks=needs_client),
    ],
)
def test_bad_value_stops_the_service_with_one_line_naming_the_variable(
    monkeypatch, capsys, name, value
):
    line = refusal(monkeypatch, capsys, **{name: value})

    assert line.startswith(f"{service.__name__}: configuration error: {name}: ")


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        (
            {"OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"},
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "
            "must not exceed OTEL_BSP_MAX_QUEUE_SIZE (10)",
        ),
        (
            {"SERVICE_PORT": "70000"},
            "SERVICE_PORT: Input should be less than or equal to 65535",
        ),
    ],
)
def test_the_refusal_line_says_what_is_wrong(monkeypatch, capsys, variables, problem):
    line = refusal(monkeypatch, capsys, **variables)

    assert line.startswith(f"{service.__name__}: configuration error: {problem}")


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]
)
@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_a_protocol_whose_exporter_is_not_installed_is_refused(
    monkeypatch, capsys, variable, protocol
):
    monkeypatch.setitem(sys.modules, EXPORTER_MODULES[protocol], None)

    line = refusal(monkeypatch, capsys, **{variable: protocol})

    assert f"{variable}: " in line
    assert "which is not installed" in line


SECRET = "S3CRET"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"ftp://alice:{SECRET}@collector:4317"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://collector:4318/?token={SECRET}"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{SECRET} not a url"),
        # A password with an unencoded / # or a letter port: urlsplit would read
        # part of it as the host, and print the rest.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://user:p/{SECRET}@collector:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://user:p#{SECRET}@collector:4318"),
        # Read as host `user`, port 1, and the rest a path: the @ there says no.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://user:1/{SECRET}@collector:4318"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://user:{SECRET}@collector:43a8"),
        ("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization: Bearer {SECRET}"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"api-key {SECRET}"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", f"api-key {SECRET}"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"http://c:4318/v1/metrics?k={SECRET}"),
        pytest.param(
            "SERVICE_DOWNSTREAM_URL",
            f"http://u:{SECRET}@127.0.0.1:8001/?k={SECRET}",
            marks=needs_client,
        ),
    ],
)
def test_a_refused_value_that_can_carry_a_secret_is_never_echoed(
    monkeypatch, capsys, name, value
):
    line = refusal(monkeypatch, capsys, **{name: value})

    assert line.startswith(f"{service.__name__}: configuration error: {name}: ")
    assert SECRET not in line
    # The rule, in its own words, instead of the value.
    rule = line.removeprefix(f"{service.__name__}: configuration error: {name}: ")
    assert rule.startswith("must ")


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]
)
def test_headers_in_the_sdks_name_value_format_are_accepted_and_kept_secret(
    monkeypatch, variable
):
    # URL-encoded, and as the exporter also takes it: a space in a value.
    headers = f"authorization=Bearer%20{SECRET},x-tenant = blue,api-key=a {SECRET}"
    monkeypatch.setenv(variable, headers)

    settings = Settings()

    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
def test_grpc_refuses_an_endpoint_with_a_user_and_password(
    monkeypatch, capsys, variable
):
    """gRPC cannot send them: the channel fails on the name, every span lost."""
    needs_exporter("grpc")

    line = refusal(
        monkeypatch,
        capsys,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        **{variable: f"http://alice:{SECRET}@collector:4317"},
    )

    assert line.endswith(
        f"{variable}: must carry no user:password@ over gRPC, which cannot send "
        "them; put credentials in OTEL_EXPORTER_OTLP_HEADERS"
    )


def test_http_keeps_an_endpoint_with_a_user_and_password_for_basic_auth(monkeypatch):
    needs_exporter("http/protobuf")
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://alice:{SECRET}@collector:4318",
    )

    assert (
        Settings().endpoint("traces")
        == f"http://alice:{SECRET}@collector:4318/v1/traces"
    )


def test_an_unknown_propagator_stops_the_service_with_one_line(monkeypatch, capsys):
    line = refusal(monkeypatch, capsys, OTEL_PROPAGATORS="tracecontext,b3multi")

    assert line == (
        f"{service.__name__}: configuration error: OTEL_PROPAGATORS: "
        "each name must be none or an installed propagator's"
    )


@pytest.mark.parametrize("digit", ["\u0663", "\uff11"])
def test_a_grpc_port_in_non_ascii_digits_is_refused(monkeypatch, capsys, digit):
    needs_exporter("grpc")

    line = refusal(
        monkeypatch,
        capsys,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"collector:431{digit}",
    )

    assert "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http://" in line


@pytest.mark.parametrize("headers", ["api-key=1", "Authorization: Bearer 1"])
def test_checking_the_headers_leaves_the_sdks_parser_logging_as_it_was(
    monkeypatch, headers
):
    sdk_logger = logging.getLogger("opentelemetry.util.re")
    before = list(sdk_logger.filters)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", headers)

    with contextlib.suppress(ValidationError):
        Settings()

    assert sdk_logger.filters == before


def test_a_validation_error_from_settings_quotes_no_value(monkeypatch, caplog):
    """For a team's own `Settings()`, outside load_settings's one line; nor does
    the SDK's header parser log what it drops."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization: Bearer {SECRET}")

    with caplog.at_level(logging.DEBUG), pytest.raises(ValidationError) as refused:
        Settings()

    assert SECRET not in str(refused.value)
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"]
)
def test_malformed_headers_are_refused_with_the_format_they_need(
    monkeypatch, capsys, variable
):
    line = refusal(monkeypatch, capsys, **{variable: "Authorization: Bearer 1"})

    assert line == (
        f"{service.__name__}: configuration error: {variable}: "
        "must be comma-separated name=value pairs, values URL-encoded"
    )

"""Settings: the template's answers as defaults, the environment on top.

The defaults that come from the answers are checked against the answers by the
template's own tests; these prove what the environment does to them.
"""

import sys

import pytest

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }}.settings import (
    DOWNSTREAM_SERVICE,
    Settings,
    load_settings,
)

EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}
needs_client = pytest.mark.skipif(
    DOWNSTREAM_SERVICE is None, reason="generated without the downstream client"
)


def installed(*protocols: str) -> None:
    """Skip where a protocol's exporter is not installed (a bake has one)."""
    for protocol in protocols:
        pytest.importorskip(EXPORTER_MODULES[protocol])


def set_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def refusal(monkeypatch: pytest.MonkeyPatch, capsys, **variables: str) -> str:
    """The one line load_settings() prints before it exits with status 2."""
    set_environment(monkeypatch, **variables)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_defaults_the_template_does_not_ask_about():
    settings = Settings()

    assert settings.host == "127.0.0.1"
    assert settings.shutdown_timeout == 3.0
    assert settings.operation_spans is False
    assert settings.log_format == "text"
    assert settings.access_log is True
    assert settings.sdk_disabled is False
    assert settings.traces_exporters == ("otlp",)
    assert settings.sampler == "parentbased_always_on"
    assert settings.sampler_arg is None
    assert settings.queue_size == 2048
    assert settings.export_batch_size == 32


@needs_client
def test_downstream_timeouts_default_to_1_s_to_connect_and_5_s_to_read():
    settings = Settings()

    assert settings.downstream_connect_timeout == 1.0
    assert settings.downstream_read_timeout == 5.0


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
            "http://collector:4318/v1/traces",
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom"},
            "http://collector:4318/custom",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/x",
            },
            "http://collector:4318/x",
        ),
    ],
    ids=["generic-gets-path", "traces-specific-as-is", "traces-specific-wins"],
)
def test_http_endpoint_follows_the_sdk_rules(monkeypatch, variables, expected):
    installed("http/protobuf")
    set_environment(monkeypatch, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")
    set_environment(monkeypatch, **variables)

    assert Settings().traces_endpoint == expected


@pytest.mark.parametrize("endpoint", ["collector:4317", "http://collector:4317"])
def test_grpc_endpoint_is_used_as_given(monkeypatch, endpoint):
    installed("grpc")
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
    )

    assert Settings().traces_endpoint == endpoint


def test_traces_protocol_variable_wins_over_the_generic_one(monkeypatch):
    installed("grpc", "http/protobuf")
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
    )
    settings = Settings()

    assert settings.traces_protocol == "http/protobuf"
    assert settings.traces_endpoint == "http://collector:4318/v1/traces"


def test_environment_overrides_the_service_settings(monkeypatch):
    set_environment(
        monkeypatch,
        SERVICE_PORT="9100",
        SERVICE_HOST="0.0.0.0",
        SERVICE_SPAN_PROCESSOR="SIMPLE",
        SERVICE_OPERATION_SPANS="true",
        SERVICE_SHUTDOWN_TIMEOUT="2.5",
        SERVICE_LOG_FORMAT="JSON",
        SERVICE_ACCESS_LOG="false",
        OTEL_TRACES_EXPORTER=" Console, otlp ",
        OTEL_SDK_DISABLED="TRUE",
    )
    settings = Settings()

    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.span_processor == "simple"
    assert settings.operation_spans is True
    assert settings.shutdown_timeout == 2.5
    assert settings.log_format == "json"
    assert settings.access_log is False
    assert settings.traces_exporters == ("console", "otlp")
    assert settings.sdk_disabled is True


def test_valid_sdk_variables_are_accepted_as_given(monkeypatch):
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_TIMEOUT="2.5",
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1.5",
        OTEL_BSP_SCHEDULE_DELAY="250",
        OTEL_BSP_EXPORT_TIMEOUT="1000",
        OTEL_BSP_MAX_QUEUE_SIZE="4096",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="256",
        OTEL_TRACES_SAMPLER="ParentBased_TraceIdRatio",
        OTEL_TRACES_SAMPLER_ARG="0.1",
    )
    settings = Settings()

    assert settings.otlp_timeout == 2.5
    assert settings.otlp_traces_timeout == 1.5
    assert settings.schedule_delay == 250
    assert settings.export_timeout == 1000
    assert settings.queue_size == 4096
    assert settings.export_batch_size == 256
    assert settings.sampler == "parentbased_traceidratio"
    assert settings.sampler_arg == 0.1


@pytest.mark.parametrize(("queue", "batch"), [("8", 8), ("4096", 32)])
def test_unset_batch_size_is_32_or_the_whole_queue_when_smaller(
    monkeypatch, queue, batch
):
    set_environment(monkeypatch, OTEL_BSP_MAX_QUEUE_SIZE=queue)

    assert Settings().export_batch_size == batch


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SERVICE_SPAN_PROCESSOR", "eager"),
        ("SERVICE_PORT", "70000"),
        ("SERVICE_PORT", "http"),
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
        # A plugin's name: TracerProvider() would silently sample everything.
        ("OTEL_TRACES_SAMPLER", "my_plugin_sampler"),
        ("OTEL_TRACES_SAMPLER_ARG", "half"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_TRACES_SAMPLER_ARG", "-0.1"),
        pytest.param("SERVICE_DOWNSTREAM_URL", "localhost:8001", marks=needs_client),
        pytest.param("SERVICE_DOWNSTREAM_CONNECT_TIMEOUT", "0", marks=needs_client),
        pytest.param("SERVICE_DOWNSTREAM_READ_TIMEOUT", "-1", marks=needs_client),
    ],
)
def test_bad_value_stops_the_service_with_one_line_naming_the_variable(
    monkeypatch, capsys, name, value
):
    line = refusal(monkeypatch, capsys, **{name: value})

    assert line.startswith(
        f"{service.__name__}: configuration error: {name}={value!r}: "
    )


def test_the_refusal_line_says_what_is_wrong(monkeypatch, capsys):
    line = refusal(monkeypatch, capsys, SERVICE_PORT="70000")

    assert line.startswith(
        f"{service.__name__}: configuration error: SERVICE_PORT='70000': "
    )
    assert "65535" in line


def test_batch_larger_than_the_queue_is_refused_naming_the_queue_size(
    monkeypatch, capsys
):
    line = refusal(
        monkeypatch,
        capsys,
        OTEL_BSP_MAX_QUEUE_SIZE="10",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="20",
    )

    assert "OTEL_BSP_MAX_EXPORT_BATCH_SIZE='20'" in line
    assert "must not exceed OTEL_BSP_MAX_QUEUE_SIZE (10)" in line


@pytest.mark.parametrize("protocol", sorted(EXPORTER_MODULES))
def test_a_protocol_whose_exporter_is_not_installed_is_refused(
    monkeypatch, capsys, protocol
):
    monkeypatch.setitem(sys.modules, EXPORTER_MODULES[protocol], None)

    line = refusal(monkeypatch, capsys, OTEL_EXPORTER_OTLP_PROTOCOL=protocol)

    assert f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}" in line
    assert "which is not installed" in line


def test_only_the_traces_protocol_needs_its_exporter_when_both_are_set(
    monkeypatch, capsys
):
    installed("http/protobuf")
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
    )
    monkeypatch.setitem(sys.modules, EXPORTER_MODULES["grpc"], None)

    assert Settings().traces_protocol == "http/protobuf"

    monkeypatch.setitem(sys.modules, EXPORTER_MODULES["http/protobuf"], None)
    line = refusal(monkeypatch, capsys)
    assert "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/protobuf'" in line


def test_grpc_takes_host_and_port_but_http_needs_a_url(monkeypatch, capsys):
    installed("grpc", "http/protobuf")
    set_environment(
        monkeypatch,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317",
    )
    assert Settings().traces_endpoint == "collector:4317"

    line = refusal(
        monkeypatch,
        capsys,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318",
    )
    assert "OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318'" in line

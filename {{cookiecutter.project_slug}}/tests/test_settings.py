"""Settings: the template's answers as defaults, the environment on top."""

import pytest

from {{ cookiecutter.project_slug }}.settings import ConfigurationError, Settings

ANSWERED_ENDPOINT = {{ cookiecutter.otlp_endpoint | tojson }}
ANSWERED_PROTOCOL = {{ cookiecutter.otlp_protocol | tojson }}


def test_defaults_are_the_template_answers():
    settings = Settings.from_environ({})

    assert settings.service_slug == {{ cookiecutter.project_slug | tojson }}
    assert settings.port == {{ cookiecutter.service_port | int }}
    assert settings.otlp_protocol == ANSWERED_PROTOCOL
    assert settings.span_processor == {{ cookiecutter.span_processor | tojson }}
    assert settings.traces_exporters == ("otlp",)
    assert settings.sdk_disabled is False
    assert settings.operation_spans is False


def test_answered_endpoint_is_the_collector_base_url():
    settings = Settings.from_environ({})

    if ANSWERED_PROTOCOL == "http/protobuf":
        expected = ANSWERED_ENDPOINT.removesuffix("/") + "/v1/traces"
    else:
        expected = ANSWERED_ENDPOINT
    assert settings.otlp_traces_endpoint == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
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
def test_http_endpoint_follows_the_sdk_rules(environ, expected):
    environ = {**environ, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}

    assert Settings.from_environ(environ).otlp_traces_endpoint == expected


def test_grpc_endpoint_is_used_as_given():
    environ = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
    }

    assert Settings.from_environ(environ).otlp_traces_endpoint == "collector:4317"


def test_traces_protocol_variable_wins_over_the_generic_one():
    environ = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    }

    assert Settings.from_environ(environ).otlp_protocol == "http/protobuf"


def test_environment_overrides_the_service_settings():
    settings = Settings.from_environ(
        {
            "SERVICE_PORT": "9100",
            "SERVICE_HOST": "0.0.0.0",
            "SERVICE_SPAN_PROCESSOR": "SIMPLE",
            "SERVICE_OPERATION_SPANS": "true",
            "SERVICE_SHUTDOWN_TIMEOUT": "2.5",
            "OTEL_TRACES_EXPORTER": "console,otlp",
            "OTEL_SDK_DISABLED": "TRUE",
        }
    )

    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.span_processor == "simple"
    assert settings.operation_spans is True
    assert settings.shutdown_timeout == 2.5
    assert settings.traces_exporters == ("console", "otlp")
    assert settings.sdk_disabled is True


def test_traces_exporter_none_means_no_exporter():
    settings = Settings.from_environ({"OTEL_TRACES_EXPORTER": "none"})

    assert settings.traces_exporters == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SERVICE_SPAN_PROCESSOR", "eager"),
        ("SERVICE_PORT", "70000"),
        ("SERVICE_PORT", "http"),
        ("SERVICE_OPERATION_SPANS", "yes please"),
        ("SERVICE_SHUTDOWN_TIMEOUT", "-1"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "-1"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("SERVICE_DOWNSTREAM_CONNECT_TIMEOUT", "0"),
    ],
)
def test_bad_value_is_refused_with_the_variable_named(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({name: value})


def test_ratio_sampler_argument_must_be_between_zero_and_one():
    environ = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}

    with pytest.raises(ConfigurationError, match="OTEL_TRACES_SAMPLER_ARG"):
        Settings.from_environ(environ)


def test_batch_larger_than_the_queue_is_refused():
    environ = {
        "OTEL_BSP_MAX_QUEUE_SIZE": "10",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20",
    }

    with pytest.raises(ConfigurationError, match="OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
        Settings.from_environ(environ)


def test_valid_sdk_variables_are_accepted():
    environ = {
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5",
        "OTEL_BSP_MAX_QUEUE_SIZE": "4096",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "256",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }

    assert Settings.from_environ(environ).service_slug

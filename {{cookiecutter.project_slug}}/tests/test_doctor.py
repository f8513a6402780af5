"""`python -m <package> doctor`: one line per check, non-zero exit on any failure."""

import socket
import time

import pytest

import {{ cookiecutter.project_slug }} as service
from {{ cookiecutter.project_slug }} import doctor
from {{ cookiecutter.project_slug }}.__main__ import main
from {{ cookiecutter.project_slug }}.export_health import exporter_loggers
from {{ cookiecutter.project_slug }}.settings import DOWNSTREAM_SERVICE

from loopback_collector import closed_port_url

HAS_CLIENT = DOWNSTREAM_SERVICE is not None


def run_doctor(capsys) -> tuple[int, str, dict[str, str]]:
    """The exit status, the output, and {check name: its line}."""
    status = main(["doctor"])
    output = capsys.readouterr().out
    lines = {}
    for line in output.splitlines():
        state, _, rest = line.partition("  ")
        if state in (doctor.PASS, doctor.FAIL, doctor.SKIP):
            lines[rest[:15].strip()] = line
    return status, output, lines


def test_doctor_passes_and_the_collector_receives_the_probe_span(
    capsys, collector, downstream
):
    status, output, lines = run_doctor(capsys)

    resource, span = collector.wait_for_spans(1)[0]
    assert status == 0, output
    assert output.startswith(f"{service.__name__} doctor: tracing: ")
    assert [(name, line[:4]) for name, line in lines.items()] == [
        ("spans recorded", "PASS"),
        ("collector", "PASS"),
        ("downstream", "PASS" if HAS_CLIENT else "SKIP"),
    ]
    assert collector.endpoint in lines["collector"]
    assert downstream.paths == (["/healthz"] if HAS_CLIENT else [])
    assert output.endswith("doctor: every check passed\n")
    assert span.name == doctor.PROBE_SPAN_NAME == "doctor.probe"
    assert resource["service.name"] == service.__name__


def test_doctor_gives_up_on_a_collector_that_never_answers_after_3_s(
    monkeypatch, capsys, downstream
):
    before = {logger.name: list(logger.filters) for logger in exporter_loggers()}
    # Connections complete in the listen backlog; nothing ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)

        started = time.monotonic()
        status, output, lines = run_doctor(capsys)
        elapsed = time.monotonic() - started

    assert status == 1
    assert lines["collector"].startswith("FAIL")
    assert endpoint in lines["collector"]
    assert "did not accept the probe span within 3 s" in lines["collector"]
    assert 2.5 < elapsed < 5
    assert output.endswith("doctor: 1 failed: collector\n")
    # The probe's exporter leaves the exporters' loggers as they were.
    assert {logger.name: logger.filters for logger in exporter_loggers()} == {
        logger.name: before.get(logger.name, []) for logger in exporter_loggers()
    }


@pytest.mark.parametrize(
    ("variable", "value", "reason", "collector_check"),
    [
        ("OTEL_SDK_DISABLED", "true", "OTEL_SDK_DISABLED=true", "SKIP"),
        ("OTEL_TRACES_EXPORTER", "none", "OTEL_TRACES_EXPORTER=none", "SKIP"),
        ("OTEL_TRACES_SAMPLER", "always_off", "AlwaysOffSampler", "PASS"),
    ],
)
def test_doctor_fails_when_no_span_would_be_recorded_or_sent(
    monkeypatch, capsys, collector, downstream, variable, value, reason, collector_check
):
    monkeypatch.setenv(variable, value)

    status, output, lines = run_doctor(capsys)

    assert status == 1
    assert lines["spans recorded"].startswith("FAIL")
    assert reason in lines["spans recorded"]
    assert lines["collector"].startswith(collector_check)
    assert output.endswith("doctor: 1 failed: spans recorded\n")


@pytest.mark.parametrize(
    ("sampler", "recorded"),
    [("traceidratio", "FAIL"), ("parentbased_traceidratio", "PASS")],
)
def test_a_ratio_of_0_fails_only_where_no_span_can_ever_be_recorded(
    monkeypatch, capsys, collector, downstream, sampler, recorded
):
    # Under a parent-based sampler a sampled caller's spans are still recorded.
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")

    _, _, lines = run_doctor(capsys)

    assert lines["spans recorded"].startswith(recorded)


@pytest.mark.skipif(not HAS_CLIENT, reason="generated without the downstream client")
def test_doctor_fails_when_the_downstream_is_unreachable(
    collector, monkeypatch, capsys
):
    downstream = closed_port_url()
    monkeypatch.setenv("SERVICE_DOWNSTREAM_URL", downstream)

    status, output, lines = run_doctor(capsys)

    assert status == 1
    assert lines["downstream"].startswith("FAIL")
    assert f"{downstream}/healthz unreachable" in lines["downstream"]
    assert output.endswith("doctor: 1 failed: downstream\n")


def test_a_bad_setting_exits_3_before_any_check(monkeypatch, capsys):
    monkeypatch.setenv("SERVICE_SPAN_PROCESSOR", "eager")

    with pytest.raises(SystemExit) as stopped:
        main(["doctor"])

    captured = capsys.readouterr()
    assert stopped.value.code == 3
    assert "SERVICE_SPAN_PROCESSOR='eager'" in captured.err
    assert captured.out == ""

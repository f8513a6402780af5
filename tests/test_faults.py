"""Tracing never takes the service down: the collector down, hung, or flapping.

Each test runs a baked service as a real uvicorn process on loopback, exporting
over real OTLP, and drives it with bounded load. The figures measured are shown
in the "measured figures" section at the end of the run.
"""

import signal
import time

import pytest

from baking import bake_checked
from loopback_traffic import (
    SilentListener,
    drive,
    drive_in_background,
    latency_summary,
)
from otlp_receiver import OtlpReceiver
from service_harness.environment import tracing_environment
from service_harness.matrix import PROTOCOLS, RUNTIME_VARIANTS, combination_id
from service_harness.ports import free_port, refused_endpoint
from service_harness.services import App, running_service

# What export may add to a request, at most.
EXPORT_SLOWDOWN_BOUND = 0.250


@pytest.fixture(scope="module")
def baked(cookies_session):
    """One baked service with the client per protocol, as an App to serve."""
    return {
        protocol: App.baked(
            bake_checked(
                cookies_session,
                {
                    "project_slug": "fault_" + protocol.split("/")[0],
                    "otlp_protocol": protocol,
                    "include_downstream_client": True,
                },
            )
        )
        for protocol in PROTOCOLS
    }


def tracing_env(protocol: str, processor: str, endpoint: str) -> dict[str, str]:
    return {
        **tracing_environment(protocol, endpoint, processor),
        # Export within half a second, so the tests see an outage without
        # waiting out the default five-second batch delay or 60-second metric
        # interval: both signals face each fault.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
    }


OUTAGE_LINE = "tracing: cannot export spans"
METRICS_OUTAGE_LINE = "metrics: cannot export metric points"


def wait_for_log_line(service, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in service.log():
            return True
        time.sleep(0.1)
    return False


def assert_both_loads_unharmed(figures, sequential, concurrent) -> None:
    """200 sequential and 200 concurrent requests: none failed, none slowed."""
    assert_no_slow_or_failed_request(sequential, 200)
    assert_no_slow_or_failed_request(concurrent, 200)
    figures(f"sequential {latency_summary(sequential)}")
    figures(f"concurrency 8 {latency_summary(concurrent)}")


def assert_no_slow_or_failed_request(outcomes, expected: int) -> None:
    failed = [o for o in outcomes if o.status != 200]
    assert len(outcomes) == expected
    assert failed == []
    slowest = max(o.seconds for o in outcomes)
    assert slowest < EXPORT_SLOWDOWN_BOUND, f"slowest request took {slowest:.3f} s"


@pytest.mark.parametrize("combination", RUNTIME_VARIANTS, ids=combination_id)
def test_collector_down_from_the_start_slows_no_request(
    baked, tmp_path, figures, combination
):
    protocol, processor = combination["otlp_protocol"], combination["span_processor"]
    env = tracing_env(protocol, processor, refused_endpoint())

    with running_service(baked[protocol], tmp_path, env) as service:
        sequential = drive(service.port, "/", 200, concurrency=1)
        reported = wait_for_log_line(service, OUTAGE_LINE, timeout=10)
        concurrent = drive(service.port, "/", 200, concurrency=8)
        reported &= wait_for_log_line(service, METRICS_OUTAGE_LINE, timeout=10)
        log = service.log()

    assert_both_loads_unharmed(figures, sequential, concurrent)
    assert reported, log[-3000:]
    assert log.count(OUTAGE_LINE) == 1, log[-3000:]
    assert log.count(METRICS_OUTAGE_LINE) == 1, log[-3000:]
    assert "Traceback" not in log


@pytest.mark.parametrize("combination", RUNTIME_VARIANTS, ids=combination_id)
def test_collector_that_never_answers_slows_no_request(
    baked, tmp_path, figures, combination
):
    protocol, processor = combination["otlp_protocol"], combination["span_processor"]

    with SilentListener() as hung_collector:
        env = tracing_env(protocol, processor, hung_collector.url)
        with running_service(baked[protocol], tmp_path, env) as service:
            sequential = drive(service.port, "/", 200, concurrency=1)
            concurrent = drive(service.port, "/", 200, concurrency=8)
            log = service.log()

    assert_both_loads_unharmed(figures, sequential, concurrent)
    assert "Traceback" not in log


@pytest.mark.parametrize("combination", RUNTIME_VARIANTS, ids=combination_id)
def test_collector_back_after_an_outage_receives_new_spans_within_ten_seconds(
    baked, tmp_path, figures, combination
):
    protocol, processor = combination["otlp_protocol"], combination["span_processor"]
    grpc_port, http_port = free_port(), free_port()
    first = OtlpReceiver(grpc_port=grpc_port, http_port=http_port).start()
    env = tracing_env(protocol, processor, first.endpoint(protocol))
    second = OtlpReceiver(grpc_port=grpc_port, http_port=http_port)
    try:
        with running_service(baked[protocol], tmp_path, env) as service:
            load, outcomes = drive_in_background(service.port, "/", 2000, 4)
            time.sleep(0.5)
            first.stop()
            time.sleep(1.5)
            second.start()
            load.join(60)
            back_at = time.monotonic()
            after = drive(service.port, "/openapi.json", 20)
            deadline = back_at + 10
            while time.monotonic() < deadline:
                arrived = [s for s in second.spans() if s.name == "GET /openapi.json"]
                if len(arrived) == 20:
                    break
                time.sleep(0.1)
            delay = time.monotonic() - back_at
    finally:
        first.stop()
        second.stop()

    assert [o for o in outcomes + after if o.status != 200] == []
    assert len(arrived) == 20
    figures(
        f"{len(outcomes)} requests through the outage, none failed; "
        f"spans of 20 calls after recovery arrived within {delay:.1f} s"
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sigterm_under_load_delivers_every_span_of_every_completed_call(
    baked, tmp_path, figures, protocol
):
    with OtlpReceiver(grpc_port=0, http_port=0) as receiver:
        env = tracing_env(protocol, "batch", receiver.endpoint(protocol))
        with running_service(baked[protocol], tmp_path, env) as service:
            load, outcomes = drive_in_background(service.port, "/", 4000, 8)
            time.sleep(1.5)
            service.process.stop(timeout=10)
            load.join(30)
        completed = sum(1 for o in outcomes if o.status == 200)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            delivered = sum(1 for s in receiver.spans() if s.name == "GET /")
            if delivered >= completed:
                break
            time.sleep(0.1)

    assert completed > 0
    # A request cut off by the shutdown may have finished on the server only.
    assert completed <= delivered <= completed + 8
    figures(f"{completed} calls completed before SIGTERM, {delivered} spans delivered")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sigterm_with_the_collector_down_exits_within_five_seconds(
    baked, tmp_path, figures, protocol
):
    env = tracing_env(protocol, "batch", refused_endpoint())
    with running_service(baked[protocol], tmp_path, env) as service:
        drive(service.port, "/", 300, concurrency=8)
        started = time.monotonic()
        service.process.stop(timeout=10)
        took = time.monotonic() - started
        exit_code = service.process.exit_code()

    assert exit_code in (0, -signal.SIGTERM), service.log()[-2000:]
    assert took < 5.0
    figures(f"shutdown took {took:.2f} s with spans queued and the collector down")

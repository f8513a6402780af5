"""Downstream faults against a real service_a process: 502/504 in time, ERROR spans,
and the health check unaffected while calls hang.

The downstream is a real HTTP server on loopback whose behaviour the test
switches: a 500, a body that is not JSON, or a hang past the client's timeout.
A refused connection is a port nothing listens on.
"""

import json
import time
import urllib.error
import urllib.request

import pytest

from baking import bake_with_client
from loopback_traffic import (
    StandInDownstream,
    drive,
    drive_in_background,
    latency_summary,
)
from otlp_receiver import OtlpReceiver
from service_harness.ports import refused_endpoint
from service_harness.services import App, running_service

SLUG = "fault_caller"
READ_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0
ANSWER_MARGIN = 0.5


# What the stand-in service_b answers in each mode; None: it hangs.
ANSWERS = {
    "error": (500, b'{"error": "boom"}'),
    "not-json": (200, b"<html>oops</html>"),
    "hang": None,
}


@pytest.fixture(scope="module")
def project(cookies_session):
    return bake_with_client(cookies_session, SLUG)


def service_env(receiver: OtlpReceiver, downstream_url: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint,
        "SERVICE_DOWNSTREAM_URL": downstream_url,
        "SERVICE_DOWNSTREAM_READ_TIMEOUT": str(READ_TIMEOUT),
        "SERVICE_DOWNSTREAM_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


def call_example(base_url: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{base_url}/{SLUG}", timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic() - started


def spans_of_one_call(receiver: OtlpReceiver) -> dict[str, object]:
    trace = receiver.wait_for_trace(
        predicate=lambda spans: (
            any(s.name == f"{SLUG}_operation" for s in spans)
            and {"CLIENT", "SERVER"} <= {s.kind for s in spans}
        ),
        timeout=10,
    )
    by_kind = {s.kind: s for s in trace if s.kind in ("SERVER", "CLIENT")}
    by_kind["OPERATION"] = next(s for s in trace if s.name == f"{SLUG}_operation")
    return by_kind


def has_exception(span) -> bool:
    return any(event["name"] == "exception" for event in span.events)


@pytest.mark.parametrize(
    ("mode", "expected_status"),
    [("error", 502), ("not-json", 502), ("hang", 504)],
)
def test_bad_downstream_answers_json_in_time_with_error_spans(
    project, tmp_path, figures, mode, expected_status
):
    with (
        OtlpReceiver(grpc_port=0, http_port=None) as receiver,
        StandInDownstream() as downstream,
    ):
        downstream.answer = ANSWERS[mode]
        env = service_env(receiver, downstream.url)
        with running_service(App.baked(project), tmp_path, env) as service:
            status, body, took = call_example(service.base_url)
            spans = spans_of_one_call(receiver)

    assert status == expected_status
    assert body["detail"].startswith("service_b: ")
    assert took < READ_TIMEOUT + ANSWER_MARGIN
    assert spans["OPERATION"].status == "ERROR"
    assert has_exception(spans["OPERATION"])
    assert spans["SERVER"].status == "ERROR"
    if mode != "not-json":
        # A 200 with a bad body is a success for HTTP, so only ours says ERROR.
        assert spans["CLIENT"].status == "ERROR"
    figures(f"{mode}: {status} in {took * 1000:.0f} ms")


def test_refused_downstream_answers_502_in_time_with_error_spans(
    project, tmp_path, figures
):
    with OtlpReceiver(grpc_port=0, http_port=None) as receiver:
        env = service_env(receiver, refused_endpoint())
        with running_service(App.baked(project), tmp_path, env) as service:
            status, body, took = call_example(service.base_url)
            spans = spans_of_one_call(receiver)

    assert status == 502
    assert "unreachable" in body["detail"]
    assert took < CONNECT_TIMEOUT + ANSWER_MARGIN
    for kind in ("CLIENT", "OPERATION"):
        assert spans[kind].status == "ERROR"
        assert has_exception(spans[kind])
    figures(f"refused: 502 in {took * 1000:.0f} ms")


def test_health_check_stays_fast_while_calls_hang_on_the_downstream(
    project, tmp_path, figures
):
    with (
        OtlpReceiver(grpc_port=0, http_port=None) as receiver,
        StandInDownstream() as downstream,
    ):
        downstream.answer = ANSWERS["hang"]
        env = service_env(receiver, downstream.url)
        with running_service(App.baked(project), tmp_path, env) as service:
            callers, hung = drive_in_background(service.port, f"/{SLUG}", 60, 60)
            time.sleep(0.3)
            health = drive(service.port, "/healthz", 20, concurrency=1)
            callers.join(30)

    assert [o.status for o in health] == [200] * 20
    slowest = max(o.seconds for o in health)
    assert slowest < 0.100, f"/healthz took {slowest * 1000:.0f} ms"
    assert {o.status for o in hung} == {504}
    figures(f"/healthz with 60 calls hanging: {latency_summary(health)}")

"""The pair, end to end: service_b and service_a baked from examples/, run as real
uvicorn processes, exporting over real OTLP, one whole trace per call.

The pair is baked once per session and imported from each project's ``src``
(PYTHONPATH), because installing is slow. Every process listens on a free
loopback port, every wait is bounded, and every process is stopped by PID when
its ``with`` block ends, whatever happened inside it.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import pair_demo.__main__ as demo
from otlp_receiver import OtlpReceiver, ReceivedSpan
from otlp_receiver.model import group_by_trace
from pair_demo.trace_check import PAIR_CHAIN, find_problems
from pair_demo.traceparent import crossed_header
from service_harness import services
from service_harness.environment import tracing_environment
from service_harness.health import ServiceNotHealthy, wait_until_up
from service_harness.matrix import RUNTIME_VARIANTS, combination_id
from service_harness.pair import PairOptions, RunningPair, get_json
from service_harness.ports import free_port, port_is_free
from service_harness.processes import ManagedProcess, pid_is_alive
from service_harness.projects import BakedPair, bake_pair
from service_harness.services import App, start_service

REPO_ROOT = Path(__file__).resolve().parent.parent
SPANS_PER_CALL = len(PAIR_CHAIN)
TRACE_TIMEOUT = 15.0
DEMO_TIMEOUT = 120.0
# The batch processor's default 5 s schedule would dominate the run time; it
# still batches, just sooner.
FAST_BATCH = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
TRANSPORTS = {"grpc": "grpc", "http/protobuf": "http"}
EXPECTED_CHAIN = [
    ("service_a", "SERVER", "GET /service_a"),
    ("service_a", "INTERNAL", "service_a_operation"),
    ("service_a", "CLIENT", "GET"),
    ("service_b", "SERVER", "GET /service_b"),
    ("service_b", "INTERNAL", "service_b_operation"),
]
EXPECTED_ANSWER = {
    "message": "Hello from service_a",
    "service_b_response": {"message": "Hello from service_b"},
}

# helpers


@pytest.fixture(scope="session")
def baked_pair(tmp_path_factory: pytest.TempPathFactory) -> BakedPair:
    return bake_pair(tmp_path_factory.mktemp("pair"))


@contextmanager
def running_pair(
    baked: BakedPair,
    receiver: OtlpReceiver,
    protocol: str,
    processor: str,
    log_dir: Path,
    workers: int = 1,
    extra_env: dict[str, str] = FAST_BATCH,
) -> Iterator[RunningPair]:
    options = PairOptions(
        log_dir=log_dir,
        env={
            **tracing_environment(protocol, receiver.endpoint(protocol), processor),
            **extra_env,
        },
        workers=workers,
    )
    with RunningPair(baked, options) as pair:
        yield pair


def chain_from_root(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """Follow parent links down from the root while each span has one child."""
    children: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
    chain: list[ReceivedSpan] = []
    level = children.get(None, [])
    while len(level) == 1:
        chain.append(level[0])
        level = children.get(level[0].span_id, [])
    return chain


def chain_labels(spans: list[ReceivedSpan]) -> list[tuple[str, str, str]]:
    return [
        (span.resource_attributes.get("service.name"), span.kind, span.name)
        for span in chain_from_root(spans)
    ]


@dataclass(frozen=True)
class PairRun:
    """What two calls to service_a left behind, collected after the pair stopped."""

    protocol: str
    answers: list[tuple[int, object]]
    spans_after_first_call: list[ReceivedSpan]
    all_spans: list[ReceivedSpan]

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        return group_by_trace(self.all_spans)

    def first_trace(self) -> list[ReceivedSpan]:
        first_trace_id = self.spans_after_first_call[0].trace_id
        return self.traces()[first_trace_id]


@pytest.fixture(scope="module", params=RUNTIME_VARIANTS, ids=combination_id)
def pair_run(
    request: pytest.FixtureRequest,
    baked_pair: BakedPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> PairRun:
    protocol = request.param["otlp_protocol"]
    processor = request.param["span_processor"]
    log_dir = tmp_path_factory.mktemp("logs")
    with OtlpReceiver() as receiver:
        with running_pair(baked_pair, receiver, protocol, processor, log_dir) as pair:
            first = pair.call_service_a()
            after_first = receiver.wait_for_spans(SPANS_PER_CALL, TRACE_TIMEOUT)
            second = pair.call_service_a()
            receiver.wait_for_spans(2 * SPANS_PER_CALL, TRACE_TIMEOUT)
        # Read after the stop: the services flushed, so late extras count too.
        all_spans = receiver.spans()
    return PairRun(
        protocol=protocol,
        answers=[(first.status, first.body), (second.status, second.body)],
        spans_after_first_call=after_first,
        all_spans=all_spans,
    )


# the pair, for each protocol and processor


def test_service_a_answers_with_service_b_response_inside(pair_run: PairRun) -> None:
    assert pair_run.answers == [(200, EXPECTED_ANSWER)] * 2


def test_one_call_makes_exactly_one_trace_of_five_spans(pair_run: PairRun) -> None:
    trace_ids = {span.trace_id for span in pair_run.spans_after_first_call}

    assert len(trace_ids) == 1
    assert len(pair_run.first_trace()) == SPANS_PER_CALL


def test_the_trace_runs_from_service_a_server_span_to_service_b_operation(
    pair_run: PairRun,
) -> None:
    assert chain_labels(pair_run.first_trace()) == EXPECTED_CHAIN


def test_every_span_has_its_parent_in_the_trace(pair_run: PairRun) -> None:
    span_ids = {span.span_id for span in pair_run.all_spans}

    orphans = [
        span.name
        for span in pair_run.all_spans
        if span.parent_span_id is not None and span.parent_span_id not in span_ids
    ]

    assert orphans == []


def test_server_spans_carry_the_route_and_the_status_code(pair_run: PairRun) -> None:
    servers = {
        span.name: span.attributes
        for span in pair_run.first_trace()
        if span.kind == "SERVER"
    }

    assert {
        name: (
            attributes.get("http.route"),
            attributes.get("http.response.status_code"),
        )
        for name, attributes in servers.items()
    } == {
        "GET /service_a": ("/service_a", 200),
        "GET /service_b": ("/service_b", 200),
    }


def test_service_b_server_span_continues_the_traceparent_of_service_a_client_span(
    pair_run: PairRun,
) -> None:
    trace = pair_run.first_trace()
    client = next(span for span in trace if span.kind == "CLIENT")

    crossed = crossed_header(trace)

    assert crossed is not None
    assert crossed.server.name == "GET /service_b"
    assert crossed.header == f"00-{client.trace_id}-{client.span_id}-01"


def test_a_second_call_makes_a_second_separate_whole_trace(pair_run: PairRun) -> None:
    traces = pair_run.traces()

    assert len(traces) == 2
    assert [chain_labels(spans) for spans in traces.values()] == [EXPECTED_CHAIN] * 2


def test_spans_arrive_over_the_chosen_transport(pair_run: PairRun) -> None:
    transports = {span.transport for span in pair_run.all_spans}

    assert transports == {TRANSPORTS[pair_run.protocol]}


# several workers, and stopping


def test_with_two_workers_each_of_ten_concurrent_calls_arrives_as_a_whole_trace(
    baked_pair: BakedPair, tmp_path: Path
) -> None:
    calls = 10
    with OtlpReceiver() as receiver:
        with running_pair(
            baked_pair, receiver, "grpc", "batch", tmp_path, workers=2
        ) as pair:
            with ThreadPoolExecutor(max_workers=5) as pool:
                answers = list(pool.map(lambda _: pair.call_service_a(), range(calls)))
            receiver.wait_for_spans(calls * SPANS_PER_CALL, TRACE_TIMEOUT)
        traces = receiver.traces()

    assert [answer.status for answer in answers] == [200] * calls
    assert len(traces) == calls
    assert {trace_id: find_problems(spans) for trace_id, spans in traces.items()} == {
        trace_id: [] for trace_id in traces
    }


def test_stopping_the_pair_flushes_spans_the_batch_processor_still_holds(
    baked_pair: BakedPair, tmp_path: Path
) -> None:
    # A schedule far longer than the test: only the shutdown flush can send.
    hold_for_a_minute = {"OTEL_BSP_SCHEDULE_DELAY": "60000"}
    with OtlpReceiver() as receiver:
        with running_pair(
            baked_pair, receiver, "grpc", "batch", tmp_path, extra_env=hold_for_a_minute
        ) as pair:
            answer = pair.call_service_a()
            spans_before_stop = receiver.spans()
        spans = receiver.wait_for_spans(SPANS_PER_CALL, TRACE_TIMEOUT)

    assert answer.status == 200
    assert spans_before_stop == []
    assert chain_labels(spans) == EXPECTED_CHAIN


def test_stopping_the_pair_leaves_no_process_and_frees_every_port(
    baked_pair: BakedPair, tmp_path: Path
) -> None:
    with OtlpReceiver() as receiver:
        with running_pair(
            baked_pair, receiver, "http/protobuf", "simple", tmp_path, workers=2
        ) as pair:
            processes = [service.process for service in pair.services]
            pids = [p for process in processes for p in process.descendant_pids()]
            pids += [process.pid for process in processes]
            ports = [service.port for service in pair.services]
        stop_problems = pair.stop_problems

    # Each uvicorn supervisor plus its two workers at least.
    assert len(pids) >= 6
    assert [pid for pid in pids if pid_is_alive(pid)] == []
    assert [port for port in ports if not port_is_free(port)] == []
    assert stop_problems == []


# processes and health checks, on small stand-in children

IGNORES_SIGTERM_WITH_A_CHILD = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(60)
"""


def stand_in(tmp_path: Path, code: str) -> ManagedProcess:
    return ManagedProcess(
        name="stand_in",
        command=[sys.executable, "-c", code],
        log_path=tmp_path / "stand_in.log",
    ).start()


def test_a_process_ignoring_sigterm_is_killed_with_its_children_after_the_bound(
    tmp_path: Path,
) -> None:
    process = stand_in(tmp_path, IGNORES_SIGTERM_WITH_A_CHILD)
    try:
        deadline = time.monotonic() + TRACE_TIMEOUT
        while not process.descendant_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [process.pid, *process.descendant_pids()]
        exit_code = process.stop(timeout=0.5)
    finally:
        process.stop(timeout=0.5)

    assert len(pids) == 2
    assert exit_code == -signal.SIGKILL
    assert [pid for pid in pids if pid_is_alive(pid)] == []


def test_the_health_wait_fails_at_once_with_the_log_of_a_service_that_exited(
    tmp_path: Path,
) -> None:
    process = stand_in(tmp_path, "raise SystemExit('cannot bind: port in use')")
    try:
        with pytest.raises(ServiceNotHealthy) as failure:
            wait_until_up(process, free_port(), 10.0)
    finally:
        process.stop()

    assert "exited with code 1 before it was up" in str(failure.value)
    assert "cannot bind: port in use" in str(failure.value)


def test_the_health_wait_gives_up_after_its_bound(tmp_path: Path) -> None:
    process = stand_in(
        tmp_path, "print('starting', flush=True); import time; time.sleep(60)"
    )
    started = time.monotonic()
    try:
        with pytest.raises(ServiceNotHealthy) as failure:
            wait_until_up(process, free_port(), 0.5)
    finally:
        process.stop()

    assert time.monotonic() - started < 5.0
    assert "did not answer /healthz within 0.5 s" in str(failure.value)
    assert "starting" in str(failure.value)


class AnswersEverything(BaseHTTPRequestHandler):
    """Another server on the port we picked: it answers /healthz too."""

    def do_GET(self) -> None:  # noqa: N802 -- the handler's method name
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def squatter() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AnswersEverything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_service_whose_port_is_taken_is_not_up_even_if_the_port_answers(
    baked_pair: BakedPair, tmp_path: Path
) -> None:
    app = App.baked(baked_pair.service_b)
    with squatter() as port, pytest.raises(ServiceNotHealthy) as failure:
        start_service(app, tmp_path, port=port, timeout=10.0)

    assert "before it was up" in str(failure.value)
    assert "address already in use" in str(failure.value).lower()


def test_a_service_given_no_port_gets_another_when_its_free_port_is_taken(
    baked_pair: BakedPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = App.baked(baked_pair.service_b)
    with squatter() as taken:
        picks = iter([taken])
        monkeypatch.setattr(
            services, "free_port", lambda: next(picks, None) or free_port()
        )
        service = start_service(app, tmp_path, timeout=10.0)
        try:
            answer = get_json(f"{service.base_url}/service_b")
        finally:
            service.process.stop()

    assert service.port != taken
    assert answer.body == {"message": "Hello from service_b"}
    assert (tmp_path / f"service_b-{taken}.log").is_file()


# the demo command


def test_demo_shows_a_whole_trace_its_metrics_and_leaves_nothing_running() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pair_demo",
            "--protocol",
            "http/protobuf",
            "--processor",
            "batch",
            "--no-install",
            "--free-ports",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    trace_id = re.search(r"^==> trace id ([0-9a-f]{32})$", output, re.MULTILINE)
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)", output)]
    scratch = re.search(r"^==> scratch directory (\S+)$", output, re.MULTILINE)

    assert result.returncode == 0, output
    assert trace_id is not None, output
    assert f"trace {trace_id[1]}  5 spans" in output
    assert f"traceparent: 00-{trace_id[1]}-" in output
    for service, span in [
        ("service_a", "GET /service_a"),
        ("service_b", "GET /service_b"),
    ]:
        assert re.search(rf"^ +{service} +\s*{span} +SERVER", output, re.MULTILINE)
    for service, metric, series in [
        ("service_a", "server", "GET /service_a 200"),
        ("service_a", "client", r"GET 127\.0\.0\.1 \d+ 200"),
        ("service_b", "server", "GET /service_b 200"),
    ]:
        line = (
            rf"^    {service} +http\.{metric}\.request\.duration +{series} +count 1 +"
            rf"mean \d+\.\d{{3}} ms +exemplar → trace {trace_id[1]} "
            r"\(the trace above\)$"
        )
        assert re.search(line, output, re.MULTILINE), output
    assert len(pids) >= 2
    assert [pid for pid in pids if pid_is_alive(pid)] == []
    assert scratch is not None and not Path(scratch[1]).exists()


# the demo's metrics, from real SDK exports


def export_durations(receiver: OtlpReceiver, service: str, *metrics: str) -> str:
    """One duration per metric recorded inside one span, as the services record
    them, exported over OTLP as they stop; returns the span's trace id."""
    exporter = OTLPMetricExporter(endpoint=receiver.grpc_endpoint, insecure=True)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=600_000)
    resource = Resource.create({"service.name": service})
    provider = MeterProvider([reader], resource=resource)
    with TracerProvider().get_tracer("test").start_as_current_span("request") as span:
        for metric in metrics:
            provider.get_meter("test").create_histogram(metric, unit="s").record(0.01)
    provider.shutdown()
    return format(span.get_span_context().trace_id, "032x")


SERVER, CLIENT = "http.server.request.duration", "http.client.request.duration"


def test_the_demo_marks_and_reports_a_duration_whose_exemplar_is_in_another_trace(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with OtlpReceiver(http_port=None) as receiver:
        trace_id = export_durations(receiver, "service_a", SERVER, CLIENT)
        other_trace_id = export_durations(receiver, "service_b", SERVER)

        problems = demo.show_metrics(receiver, trace_id)
    printed = capsys.readouterr().out

    assert problems == [f"service_b {SERVER}: no exemplar in it"]
    assert f"{trace_id} (the trace above)" in printed
    assert printed.count("(the trace above)") == 2
    assert f"{other_trace_id} (NOT the trace above)" in printed


def test_the_demo_reports_metrics_that_did_not_arrive_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo, "METRICS_TIMEOUT", 0.2)
    with OtlpReceiver(http_port=None) as receiver:
        trace_id = export_durations(receiver, "service_a", SERVER, CLIENT)

        problems = demo.show_metrics(receiver, trace_id)

    assert problems == [
        f"metrics: no service_b {SERVER} within 0.2s; "
        f"arrived: service_a {SERVER}, service_a {CLIENT}"
    ]


# trace_check, on hand-made spans

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
OTHER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def hand_made_chain(trace_id: str = TRACE_ID) -> list[ReceivedSpan]:
    """The five spans of a whole pair trace, each the parent of the next."""
    spans: list[ReceivedSpan] = []
    parent: str | None = None
    for index, expected in enumerate(PAIR_CHAIN):
        span_id = f"{index + 1:016x}"
        spans.append(
            ReceivedSpan(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=expected.name,
                kind=expected.kind,
                start_ns=index * 1_000_000,
                end_ns=(10 - index) * 1_000_000,
                status="UNSET",
                status_message="",
                service_name=expected.service,
            )
        )
        parent = span_id
    return spans


def test_trace_check_finds_nothing_wrong_with_a_whole_chain() -> None:
    assert find_problems(hand_made_chain()) == []


def test_trace_check_reports_no_spans() -> None:
    assert find_problems([]) == ["no spans arrived"]


def test_trace_check_reports_a_lost_span_and_the_orphan_it_leaves() -> None:
    spans = hand_made_chain()
    del spans[2]  # service_a's CLIENT span never arrived

    problems = find_problems(spans)

    assert "expected 5 spans, got 4" in problems
    assert f"service_b SERVER 'GET /service_b': parent {3:016x} not arrived" in problems


def test_trace_check_reports_a_client_span_whose_callee_sent_nothing() -> None:
    spans = hand_made_chain()[:3]  # service_b's half never arrived

    problems = find_problems(spans)

    assert (
        "service_a CLIENT 'GET': no child arrived from the service it called"
        in problems
    )


def test_trace_check_reports_two_traces_when_the_context_did_not_cross() -> None:
    spans = hand_made_chain()
    # service_b started its own trace: no traceparent reached it.
    spans[3] = replace(spans[3], trace_id=OTHER_TRACE_ID, parent_span_id=None)
    spans[4] = replace(spans[4], trace_id=OTHER_TRACE_ID)

    problems = find_problems(spans)

    assert f"expected one trace, got 2: {TRACE_ID}, {OTHER_TRACE_ID}" in problems
    assert any(p.startswith("expected one root span, got 2") for p in problems)


def test_trace_check_reports_a_span_of_the_wrong_kind() -> None:
    spans = hand_made_chain()
    spans[2] = replace(spans[2], kind="INTERNAL")

    problems = find_problems(spans)

    assert problems == [
        "service_a CLIENT 'GET' is not a child of service_a INTERNAL "
        "'service_a_operation' (its children: service_a INTERNAL 'GET')"
    ]


def test_trace_check_reports_a_service_without_its_name() -> None:
    spans = hand_made_chain()
    # What a provider without a Resource reports.
    spans = [replace(span, service_name="unknown_service:python3") for span in spans]

    assert find_problems(spans) == ["no root span is service_a SERVER 'GET /service_a'"]


def test_traceparent_is_rebuilt_from_the_client_span_service_b_continues() -> None:
    crossed = crossed_header(hand_made_chain())

    assert crossed is not None
    assert crossed.header == f"00-{TRACE_ID}-{3:016x}-01"


def test_no_traceparent_is_rebuilt_when_service_b_has_no_client_parent() -> None:
    spans = hand_made_chain()
    spans[3] = replace(spans[3], parent_span_id=None)

    assert crossed_header(spans) is None


def generated_loopback_collector(baked: BakedPair):
    """The collector the generated projects test themselves with: opentelemetry-
    proto's own services, none of this repository's receiver code."""
    path = baked.service_a.project_dir / "tests" / "loopback_collector.py"
    spec = importlib.util.spec_from_file_location("generated_collector", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LoopbackCollector


def test_the_pair_sends_on_sigterm_request_durations_whose_exemplars_are_its_trace(
    baked_pair: BakedPair, tmp_path: Path
) -> None:
    """Defaults (metrics every 60 s): only the shutdown flush can deliver them."""
    with generated_loopback_collector(baked_pair)("grpc") as collector:
        options = PairOptions(
            log_dir=tmp_path, env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
        )
        with RunningPair(baked_pair, options) as pair:
            assert pair.call_service_a().status == 200
            for service in pair.services:
                assert get_json(f"{service.base_url}/healthz").status == 200
        spans = [span for _, span in collector.wait_for_spans(SPANS_PER_CALL)]
        received = collector.metrics()

    (trace_id,) = {span.trace_id for span in spans}
    servers = {span.span_id for span in spans if span.name.startswith("GET /")}
    durations = {}
    for resource, metric in received:
        assert len(resource["service.instance.id"]) == 36, resource
        for point in getattr(metric, metric.WhichOneof("data")).data_points:
            attributes = {a.key: a.value for a in point.attributes}
            route = attributes.get("http.route")
            key = (resource["service.name"], metric.name, route and route.string_value)
            durations[key] = (metric.unit, point, attributes)
    server_points = {
        (service, route): durations[(service, "http.server.request.duration", route)]
        for service, route in [("service_a", "/service_a"), ("service_b", "/service_b")]
    }
    assert not [key for key in durations if key[2] == "/healthz"]
    for unit, point, attributes in server_points.values():
        assert (unit, point.count) == ("s", 1)
        assert attributes["http.response.status_code"].int_value == 200
        (exemplar,) = point.exemplars
        assert (exemplar.trace_id, exemplar.span_id in servers) == (trace_id, True)
    _, client, _ = durations[("service_a", "http.client.request.duration", None)]
    assert [exemplar.trace_id for exemplar in client.exemplars] == [trace_id]

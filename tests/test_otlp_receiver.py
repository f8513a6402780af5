"""Tests of the local OTLP receiver, driven by the real OpenTelemetry SDK exporters.

Every network test talks to a receiver on loopback with ports picked by the OS,
and every wait is bounded.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

import pytest
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otlp_receiver import (
    Exemplar,
    MetricPoint,
    OtlpReceiver,
    ReceivedSpan,
    latest_points,
    metric_lines,
    read_jsonl,
    render_waterfall,
)
from otlp_receiver.decoding import decode_any_value
from otlp_receiver.model import SPAN_KINDS
from otlp_receiver.quiet_traces import QuietTrace, QuietTraceTracker
from otlp_receiver.waterfall import ORPHAN_MARK

REPO_ROOT = Path(__file__).resolve().parent.parent
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
EXPORT_TIMEOUT_SECONDS = 5
WAIT_SECONDS = 5.0
CLI_STARTUP_SECONDS = 10.0
CLI_EXIT_SECONDS = 5.0
LISTENING_LINE = re.compile(
    r"^otlp_receiver listening grpc=(?P<grpc_host>\S+):(?P<grpc_port>\d+) "
    r"http=(?P<http_host>\S+):(?P<http_port>\d+)$"
)

TransportName = Literal["grpc", "http"]


# helpers


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver(host="127.0.0.1", grpc_port=0, http_port=0) as running:
        yield running


# Each signal's exporters over gRPC and over HTTP.
EXPORTERS = {
    "traces": (GrpcSpanExporter, HttpSpanExporter),
    "metrics": (GrpcMetricExporter, HttpMetricExporter),
}


def make_exporter(
    receiver: OtlpReceiver,
    transport: TransportName,
    signal: Literal["traces", "metrics"] = "traces",
    **options: object,
) -> Any:
    grpc_exporter, http_exporter = EXPORTERS[signal]
    if transport == "grpc":
        return grpc_exporter(
            endpoint=receiver.grpc_endpoint,
            insecure=True,
            timeout=EXPORT_TIMEOUT_SECONDS,
            **options,
        )
    return http_exporter(
        endpoint=f"{receiver.http_endpoint}/v1/{signal}",
        timeout=EXPORT_TIMEOUT_SECONDS,
        **options,
    )


def flushed_meter_provider(
    exporter: MetricExporter, service_name: str
) -> MeterProvider:
    """A meter provider whose reader exports only when flushed or shut down: its
    schedule is longer than any test."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=600_000)
    resource = Resource.create(
        {"service.name": service_name, "service.instance.id": "instance-1"}
    )
    return MeterProvider(metric_readers=[reader], resource=resource)


@pytest.fixture
def meter_provider() -> Iterator[Callable[[MetricExporter, str], MeterProvider]]:
    """Flushed meter providers, shut down (a last export) at teardown."""
    providers: list[MeterProvider] = []

    def make(exporter: MetricExporter, service_name: str) -> MeterProvider:
        providers.append(flushed_meter_provider(exporter, service_name))
        return providers[-1]

    yield make
    for provider in providers:
        provider.shutdown()


MakeMeterProvider = Callable[[MetricExporter, str], MeterProvider]
# Seconds, within one of the histogram's buckets each.
DURATIONS = (0.25, 0.75)
CART_ROUTE = {"http.request.method": "GET", "http.route": "/cart"}


def record_request_durations(meter: metrics.Meter, tracer: trace.Tracer) -> trace.Span:
    """Two durations of one route recorded inside one SERVER span, as FastAPI
    records them, plus an up-down counter and a gauge; returns the span."""
    duration = meter.create_histogram(
        "http.server.request.duration",
        unit="s",
        explicit_bucket_boundaries_advisory=(0.1, 0.5, 1.0),
    )
    active = meter.create_up_down_counter("http.server.active_requests", "{request}")
    depth = meter.create_gauge("queue.depth", unit="{item}")
    with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER) as span:
        for seconds in DURATIONS:
            active.add(1, CART_ROUTE)
            duration.record(seconds, {**CART_ROUTE, "http.response.status_code": 200})
            active.add(-1, CART_ROUTE)
        depth.set(7)
    return span


MakeTracer = Callable[[SpanExporter, str], trace.Tracer]


@pytest.fixture
def make_tracer() -> Iterator[MakeTracer]:
    """Tracers exporting each span as it ends; providers shut down at teardown."""
    providers: list[TracerProvider] = []

    def make(exporter: SpanExporter, service_name: str) -> trace.Tracer:
        # Local providers only: the global one must stay untouched.
        resource = Resource.create({"service.name": service_name})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(provider)
        return provider.get_tracer("tests.otlp_receiver")

    yield make
    for provider in providers:
        provider.shutdown()


def hex_ids(span: trace.Span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def received_span(
    span_id: str,
    parent_span_id: str | None,
    name: str,
    start_ms: int,
    end_ms: int,
    service_name: str = "checkout",
) -> ReceivedSpan:
    return ReceivedSpan(
        trace_id=TRACE_ID,
        span_id=span_id,
        parent_span_id=parent_span_id,
        name=name,
        kind="INTERNAL",
        start_ns=start_ms * 1_000_000,
        end_ns=end_ms * 1_000_000,
        status="UNSET",
        status_message="",
        service_name=service_name,
    )


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_SECONDS)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def bind_listener(port: int) -> None:
    """Listen on ``port`` the way a restarted server would, then let go."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR so closed connections in TIME_WAIT do not
        # block a restart; a port with a live listener still cannot be bound.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def parse_listening_line(line: str) -> dict[str, int]:
    match = LISTENING_LINE.match(line)
    assert match is not None, line
    return {"grpc": int(match["grpc_port"]), "http": int(match["http_port"])}


class LineCollector:
    """Drains a subprocess pipe in a thread so the child can never block on it."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._pipe = pipe
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for line in self._pipe:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(
            f"no line matching {pattern!r} within {timeout}s; got {self.seen}"
        )

    def rest(self) -> list[str]:
        """Every line read so far, once the child has exited."""
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return self.seen

    def close(self, timeout: float = 2.0) -> None:
        self._thread.join(timeout)
        self._pipe.close()


@dataclass
class CliRun:
    process: subprocess.Popen[str]
    stdout: LineCollector
    stderr: LineCollector

    def signal_and_wait(self, signum: int) -> int:
        os.kill(self.process.pid, signum)
        return self.process.wait(CLI_EXIT_SECONDS)


@contextmanager
def running_cli(*extra_args: str) -> Iterator[CliRun]:
    process = subprocess.Popen(
        [sys.executable, "-m", "otlp_receiver", "--grpc-port", "0", "--http-port", "0"]
        + list(extra_args),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None and process.stderr is not None
    run = CliRun(process, LineCollector(process.stdout), LineCollector(process.stderr))
    try:
        yield run
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(CLI_EXIT_SECONDS)
        run.stdout.close()
        run.stderr.close()


# receiving over both transports


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_parent_and_child_arrive_with_ids_kinds_and_service_name(
    receiver: OtlpReceiver, make_tracer: MakeTracer, transport: TransportName
) -> None:
    tracer = make_tracer(make_exporter(receiver, transport), "checkout")
    with (
        tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER) as parent,
        tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as child,
    ):
        pass

    spans = {span.name: span for span in receiver.wait_for_spans(2, WAIT_SECONDS)}
    trace_id, parent_id = hex_ids(parent)
    _, child_id = hex_ids(child)
    assert spans["GET /cart"].trace_id == trace_id
    assert spans["GET /cart"].span_id == parent_id
    assert spans["GET /cart"].parent_span_id is None
    assert spans["GET /cart"].kind == "SERVER"
    assert spans["SELECT"].trace_id == trace_id
    assert spans["SELECT"].span_id == child_id
    assert spans["SELECT"].parent_span_id == parent_id
    assert spans["SELECT"].kind == "CLIENT"
    assert {span.service_name for span in spans.values()} == {"checkout"}
    assert {span.transport for span in spans.values()} == {transport}
    assert list(receiver.traces()) == [trace_id]


def test_attributes_status_resource_and_scope_are_decoded(
    receiver: OtlpReceiver, make_tracer: MakeTracer
) -> None:
    attributes = {
        "text": "hi",
        "flag": True,
        "count": 3,
        "ratio": 0.5,
        "tags": ["a", "b"],
    }
    tracer = make_tracer(make_exporter(receiver, "grpc"), "payments")
    with tracer.start_as_current_span("charge", attributes=attributes) as span:
        span.set_status(Status(StatusCode.ERROR, "card declined"))

    (received,) = receiver.wait_for_spans(1, WAIT_SECONDS)
    assert received.attributes == attributes
    assert received.status == "ERROR"
    assert received.status_message == "card declined"
    assert received.kind == "INTERNAL"
    assert received.resource_attributes["service.name"] == "payments"
    assert received.scope_name == "tests.otlp_receiver"
    assert received.end_ns >= received.start_ns > 0


def test_every_any_value_kind_is_decoded_to_a_python_value() -> None:
    nested = KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=7))])
    array = ArrayValue(values=[AnyValue(string_value="x"), AnyValue(bool_value=False)])

    assert decode_any_value(AnyValue(string_value="s")) == "s"
    assert decode_any_value(AnyValue(bool_value=True)) is True
    assert decode_any_value(AnyValue(int_value=-5)) == -5
    assert decode_any_value(AnyValue(double_value=1.25)) == 1.25
    assert decode_any_value(AnyValue(array_value=array)) == ["x", False]
    assert decode_any_value(AnyValue(kvlist_value=nested)) == {"k": 7}
    assert decode_any_value(AnyValue(bytes_value=b"\x01\xab")) == "01ab"
    assert decode_any_value(AnyValue()) is None


@pytest.mark.parametrize(
    ("transport", "header_name"),
    # gRPC metadata keys must already be lowercase; HTTP ones are lowered by us.
    [("grpc", "authorization"), ("http", "Authorization")],
)
def test_exporter_headers_are_recorded_with_lowercase_keys(
    receiver: OtlpReceiver,
    make_tracer: MakeTracer,
    transport: TransportName,
    header_name: str,
) -> None:
    exporter = make_exporter(receiver, transport, headers={header_name: "Bearer s3"})
    with make_tracer(exporter, "checkout").start_as_current_span("work"):
        pass

    receiver.wait_for_spans(1, WAIT_SECONDS)
    (request,) = receiver.requests()
    assert request.transport == transport
    assert request.headers["authorization"] == "Bearer s3"
    assert request.span_count == 1
    assert request.service_names == ("checkout",)


def test_headers_from_otel_exporter_otlp_headers_env_var_arrive(
    receiver: OtlpReceiver, make_tracer: MakeTracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20from-env")
    tracer = make_tracer(make_exporter(receiver, "http"), "checkout")
    tracer.start_span("work").end()

    receiver.wait_for_spans(1, WAIT_SECONDS)
    assert receiver.requests()[0].headers["authorization"] == "Bearer from-env"


def test_gzip_compressed_http_export_is_decoded(
    receiver: OtlpReceiver, make_tracer: MakeTracer
) -> None:
    exporter = make_exporter(receiver, "http", compression=Compression.Gzip)
    with make_tracer(exporter, "checkout").start_as_current_span("zipped"):
        pass

    (span,) = receiver.wait_for_spans(1, WAIT_SECONDS)
    assert span.name == "zipped"
    assert receiver.requests()[0].headers["content-encoding"] == "gzip"


# HTTP error answers


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [
        pytest.param(
            "/v1/logs",
            b"",
            {"Content-Type": "application/x-protobuf"},
            404,
            "traces at POST /v1/traces and metrics at POST /v1/metrics",
            id="unknown-path-404",
        ),
        pytest.param(
            "/v1/traces",
            b"not a protobuf",
            {"Content-Type": "application/x-protobuf"},
            400,
            "ExportTraceServiceRequest",
            id="undecodable-body-400",
        ),
        pytest.param(
            "/v1/traces",
            b"\x1f\x8b broken",
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            400,
            "gzip",
            id="broken-gzip-400",
        ),
        pytest.param(
            "/v1/traces",
            b'{"resourceSpans": []}',
            {"Content-Type": "application/json"},
            415,
            "JSON is not supported",
            id="json-415",
        ),
    ],
)
def test_bad_http_requests_are_rejected_with_an_explanation(
    receiver: OtlpReceiver,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    assert receiver.http_port is not None
    answer_status, answer_body = post(receiver.http_port, path, body, headers)

    assert answer_status == status
    assert message in answer_body
    assert receiver.spans() == []


def test_empty_gzip_request_posted_by_hand_is_answered_200_and_recorded(
    receiver: OtlpReceiver,
) -> None:
    body = gzip.compress(ExportTraceServiceRequest().SerializeToString())
    assert receiver.http_port is not None
    status, _ = post(
        receiver.http_port,
        "/v1/traces",
        body,
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    )

    assert status == 200
    assert receiver.requests()[0].span_count == 0


# waiting


def test_wait_for_spans_times_out_saying_how_many_arrived(
    receiver: OtlpReceiver, make_tracer: MakeTracer
) -> None:
    tracer = make_tracer(make_exporter(receiver, "http"), "checkout")
    tracer.start_span("only one").end()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"at least 3 span\(s\).*but 1 arrived"):
        receiver.wait_for_spans(3, timeout=0.3)
    assert time.monotonic() - started < 2


def test_wait_for_trace_returns_the_trace_matching_the_predicate(
    receiver: OtlpReceiver, make_tracer: MakeTracer
) -> None:
    tracer = make_tracer(make_exporter(receiver, "grpc"), "checkout")
    tracer.start_span("unrelated").end()
    with (
        tracer.start_as_current_span("checkout") as root,
        tracer.start_as_current_span("reserve stock"),
    ):
        pass

    spans = receiver.wait_for_trace(
        min_spans=2,
        predicate=lambda spans: any(span.name == "checkout" for span in spans),
        timeout=WAIT_SECONDS,
    )
    assert {span.name for span in spans} == {"checkout", "reserve stock"}
    assert spans[0].trace_id == hex_ids(root)[0]
    with pytest.raises(TimeoutError, match="no trace matched"):
        receiver.wait_for_trace(min_spans=3, timeout=0.2)


def test_clear_forgets_spans_and_requests(
    receiver: OtlpReceiver, make_tracer: MakeTracer
) -> None:
    tracer = make_tracer(make_exporter(receiver, "grpc"), "checkout")
    tracer.start_span("work").end()
    receiver.wait_for_spans(1, WAIT_SECONDS)

    receiver.clear()

    assert receiver.spans() == []
    assert receiver.requests() == []
    assert receiver.traces() == {}


# waterfall


def test_waterfall_indents_a_child_under_its_parent() -> None:
    spans = [
        received_span("bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "child", 10, 60),
        received_span("aaaaaaaaaaaaaaaa", None, "root", 0, 100),
    ]

    lines = render_waterfall(spans).splitlines()

    root_line = next(line for line in lines if "root" in line)
    child_line = next(line for line in lines if "child" in line)
    assert lines.index(root_line) < lines.index(child_line)
    assert child_line.index("child") == root_line.index("root") + 2


def test_waterfall_header_names_trace_span_count_and_services() -> None:
    spans = [
        received_span("aaaaaaaaaaaaaaaa", None, "root", 0, 100, "frontend"),
        received_span("bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "call", 10, 60, "api"),
    ]

    header = render_waterfall(spans).splitlines()[0]

    assert TRACE_ID in header
    assert "2 spans" in header
    assert "services: frontend, api" in header


def test_waterfall_shows_a_span_with_missing_parent_as_orphan_at_top_level() -> None:
    spans = [
        received_span("aaaaaaaaaaaaaaaa", None, "root", 0, 100),
        received_span("cccccccccccccccc", "ffffffffffffffff", "lost", 20, 40),
    ]

    lines = render_waterfall(spans).splitlines()

    root_line = next(line for line in lines if "root" in line)
    orphan_line = next(line for line in lines if "lost" in line)
    assert "(parent missing)" in orphan_line
    assert orphan_line.index("lost") == root_line.index("root")


def test_waterfall_bar_is_scaled_to_the_trace_and_ascii_mode_is_pure_ascii() -> None:
    spans = [
        received_span("aaaaaaaaaaaaaaaa", None, "root", 0, 100),
        received_span("bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa", "second half", 50, 100),
    ]

    text = render_waterfall(spans, width=20, ascii=True)

    assert text.isascii()
    child_line = next(line for line in text.splitlines() if "second half" in line)
    assert "." * 10 + "#" * 10 in child_line
    assert "50.000 ms" in child_line
    assert "█" in render_waterfall(spans, width=20)


def test_render_draws_a_trace_spanning_two_services(
    receiver: OtlpReceiver, make_tracer: MakeTracer
) -> None:
    frontend = make_tracer(make_exporter(receiver, "grpc"), "frontend")
    backend = make_tracer(make_exporter(receiver, "http"), "backend")
    with (
        frontend.start_as_current_span("GET /", kind=SpanKind.SERVER),
        backend.start_as_current_span("query", kind=SpanKind.CLIENT),
    ):
        pass

    trace_id = receiver.wait_for_trace(min_spans=2, timeout=WAIT_SECONDS)[0].trace_id
    rendered = receiver.render(trace_id)

    assert "services: frontend, backend" in rendered.splitlines()[0]
    assert "parent missing" not in rendered
    with pytest.raises(KeyError):
        receiver.render("0" * 32)


# JSON lines


def test_jsonl_dump_round_trips_received_spans(
    receiver: OtlpReceiver, make_tracer: MakeTracer, tmp_path: Path
) -> None:
    tracer = make_tracer(make_exporter(receiver, "http"), "checkout")
    with (
        tracer.start_as_current_span("root", attributes={"tags": ["a", "b"]}),
        tracer.start_as_current_span("child", attributes={"n": 2.5}),
    ):
        pass
    spans = receiver.wait_for_spans(2, WAIT_SECONDS)
    path = tmp_path / "spans.jsonl"

    assert receiver.dump_jsonl(path) == 2

    assert len(path.read_text().splitlines()) == 2
    assert read_jsonl(path) == spans


# lifecycle


def test_stop_releases_both_ports_promptly_and_is_idempotent(
    make_tracer: MakeTracer,
) -> None:
    receiver = OtlpReceiver(host="127.0.0.1", grpc_port=0, http_port=0).start()
    try:
        # The providers outlive stop(), so live client connections exist then.
        grpc_tracer = make_tracer(make_exporter(receiver, "grpc"), "checkout")
        http_tracer = make_tracer(make_exporter(receiver, "http"), "checkout")
        with grpc_tracer.start_as_current_span("over grpc"):
            pass
        with http_tracer.start_as_current_span("over http"):
            pass
        receiver.wait_for_spans(2, WAIT_SECONDS)
        ports = [receiver.grpc_port, receiver.http_port]
        for port in ports:
            assert port is not None
            with pytest.raises(OSError):
                bind_listener(port)

        started = time.monotonic()
        receiver.stop()
        receiver.stop()
        assert time.monotonic() - started < 3

        for port in ports:
            assert port is not None
            bind_listener(port)
    finally:
        receiver.stop()
    assert not receiver.is_running


def test_a_disabled_transport_has_no_port_and_no_endpoint() -> None:
    with OtlpReceiver(grpc_port=None, http_port=0) as receiver:
        assert receiver.grpc_port is None
        assert receiver.http_port is not None
        with pytest.raises(RuntimeError, match="gRPC"):
            _ = receiver.grpc_endpoint


def test_a_second_receiver_cannot_share_a_port_in_use(receiver: OtlpReceiver) -> None:
    with pytest.raises(OSError, match="gRPC"):
        OtlpReceiver(grpc_port=receiver.grpc_port, http_port=None).start()
    with pytest.raises(OSError, match="HTTP"):
        OtlpReceiver(grpc_port=None, http_port=receiver.http_port).start()


def test_quiet_trace_tracker_reports_a_whole_trace_once_it_stops_receiving_spans() -> (
    None
):
    now = [100.0]
    tracker = QuietTraceTracker(quiet_seconds=1.0, clock=lambda: now[0])
    span = received_span("aaaaaaaaaaaaaaaa", None, "root", 0, 1)

    tracker.note([span])
    now[0] += 0.5
    assert tracker.pop_quiet() == []
    now[0] += 0.6
    assert tracker.pop_quiet() == [QuietTrace(TRACE_ID, 1)]
    assert tracker.pop_quiet() == []


def pair_halves(trace_id: str = TRACE_ID) -> tuple[list[ReceivedSpan], ...]:
    """The pair's five spans: service_a's three and service_b's two."""
    a = [
        replace(received_span("a1" * 8, None, "GET /service_a", 0, 30), kind="SERVER"),
        received_span("a2" * 8, "a1" * 8, "service_a_operation", 1, 29),
        replace(received_span("a3" * 8, "a2" * 8, "GET", 10, 25), kind="CLIENT"),
    ]
    b = [
        replace(
            received_span("b1" * 8, "a3" * 8, "GET /service_b", 12, 24), kind="SERVER"
        ),
        received_span("b2" * 8, "b1" * 8, "service_b_operation", 13, 23),
    ]
    a = [replace(span, trace_id=trace_id, service_name="service_a") for span in a]
    b = [replace(span, trace_id=trace_id, service_name="service_b") for span in b]
    return a, b


@pytest.mark.parametrize("first", ["service_a", "service_b"])
def test_a_trace_whose_other_half_is_late_is_reported_once_whole(first: str) -> None:
    """service_b's half alone has a missing parent; service_a's has a CLIENT span
    without a child: either waits past the quiet second for the other half."""
    now = [100.0]
    tracker = QuietTraceTracker(1.0, settle_seconds=6.0, clock=lambda: now[0])
    a, b = pair_halves()
    early, late = (a, b) if first == "service_a" else (b, a)

    tracker.note(early)
    now[0] += 4.0
    waited = tracker.pop_quiet()
    tracker.note(late)
    now[0] += 1.0

    assert waited == []
    assert tracker.pop_quiet() == [QuietTrace(TRACE_ID, 5)]
    assert tracker.pop_all() == []


def test_a_half_trace_is_reported_after_the_settle_bound_saying_what_is_open() -> None:
    now = [100.0]
    tracker = QuietTraceTracker(1.0, settle_seconds=6.0, clock=lambda: now[0])
    _, b = pair_halves()

    tracker.note(b)
    now[0] += 5.9
    assert tracker.pop_quiet() == []
    now[0] += 0.1
    (reported,) = tracker.pop_quiet()

    assert (reported.span_count, reported.reported_before) == (2, 0)
    assert reported.open_ends == (
        f"service_b SERVER 'GET /service_b': parent {'a3' * 8} not arrived",
    )


def test_spans_arriving_after_a_report_are_reported_as_an_update() -> None:
    now = [100.0]
    tracker = QuietTraceTracker(1.0, settle_seconds=2.0, clock=lambda: now[0])
    a, b = pair_halves()

    tracker.note(a)
    now[0] += 2.0
    (first,) = tracker.pop_quiet()
    tracker.note(b)
    now[0] += 1.0
    (update,) = tracker.pop_quiet()

    assert first.open_ends == (
        "service_a CLIENT 'GET': no child arrived from the service it called",
    )
    assert update == QuietTrace(TRACE_ID, 5, open_ends=(), reported_before=3)


# command line


def test_cli_prints_ports_logs_dumps_and_draws_a_span_then_exits_zero_on_sigterm(
    make_tracer: MakeTracer, tmp_path: Path
) -> None:
    jsonl_path = tmp_path / "cli.jsonl"
    with running_cli("--jsonl", str(jsonl_path), "--print-traces") as cli:
        listening = cli.stdout.wait_for(LISTENING_LINE.pattern, CLI_STARTUP_SECONDS)
        ports = parse_listening_line(listening)
        assert ports["grpc"] > 0

        exporter = HttpSpanExporter(
            endpoint=f"http://127.0.0.1:{ports['http']}/v1/traces",
            timeout=EXPORT_TIMEOUT_SECONDS,
        )
        tracer = make_tracer(exporter, "cli-test")
        with tracer.start_as_current_span("from the cli test") as span:
            pass
        trace_id, _ = hex_ids(span)

        cli.stdout.wait_for(rf"^trace {trace_id}\s+1 span\b", WAIT_SECONDS)

        assert cli.signal_and_wait(signal.SIGTERM) == 0

    assert any("from the cli test" in line for line in cli.stdout.rest())
    log_line = "http export: 1 span(s), services: cli-test"
    assert any(log_line in line for line in cli.stderr.rest())
    (dumped,) = read_jsonl(jsonl_path)
    assert dumped.trace_id == trace_id


def export_body(spans: list[ReceivedSpan]) -> bytes:
    """An OTLP/HTTP export of hand-made spans, one resource per service."""
    request = ExportTraceServiceRequest()
    for service in dict.fromkeys(span.service_name for span in spans):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.add(
            key="service.name", value=AnyValue(string_value=service)
        )
        scope_spans = resource_spans.scope_spans.add()
        for span in (span for span in spans if span.service_name == service):
            scope_spans.spans.add(
                trace_id=bytes.fromhex(span.trace_id),
                span_id=bytes.fromhex(span.span_id),
                parent_span_id=bytes.fromhex(span.parent_span_id or ""),
                name=span.name,
                kind=SPAN_KINDS.index(span.kind),
                start_time_unix_nano=span.start_ns,
                end_time_unix_nano=span.end_ns,
            )
    return request.SerializeToString()


def test_cli_prints_a_trace_once_when_its_halves_arrive_apart_and_updates_a_late_one(
    tmp_path: Path,
) -> None:
    """Trace A's halves arrive 1.3 s apart, within --settle-seconds: one print.
    Trace B's second half comes after B was printed: an update, marked."""
    trace_a, trace_b = "a" * 32, "b" * 32
    a_first, a_second = pair_halves(trace_a)[::-1]
    b_first, b_second = pair_halves(trace_b)[::-1]
    protobuf = {"Content-Type": "application/x-protobuf"}
    with running_cli("--print-traces", "--settle-seconds", "2.5") as cli:
        listening = cli.stdout.wait_for(LISTENING_LINE.pattern, CLI_STARTUP_SECONDS)
        port = parse_listening_line(listening)["http"]

        post(port, "/v1/traces", export_body(a_first + b_first), protobuf)
        time.sleep(1.3)
        post(port, "/v1/traces", export_body(a_second), protobuf)
        cli.stdout.wait_for(rf"^trace {trace_a}\s+5 spans", WAIT_SECONDS)
        cli.stdout.wait_for(r"^incomplete\? nothing more arrived within 2.5 s", 5)
        post(port, "/v1/traces", export_body(b_second), protobuf)
        cli.stdout.wait_for(rf"^update: 3 more span\(s\) of trace {trace_b}", 5)

        assert cli.signal_and_wait(signal.SIGTERM) == 0
    stdout = "\n".join(cli.stdout.rest())

    assert len(re.findall(rf"^trace {trace_a}", stdout, re.MULTILINE)) == 1, stdout
    assert re.findall(rf"^trace {trace_b}\s+(\d) spans", stdout, re.MULTILINE) == [
        "2",
        "5",
    ], stdout
    assert f"parent {'a3' * 8} not arrived" in stdout
    # Only trace B's first print lacks a parent.
    assert stdout.count(ORPHAN_MARK) == 1, stdout


def test_cli_prints_a_line_per_metric_point_and_logs_each_metrics_export() -> None:
    with running_cli("--print-metrics") as cli:
        listening = cli.stdout.wait_for(LISTENING_LINE.pattern, CLI_STARTUP_SECONDS)
        port = parse_listening_line(listening)["http"]
        exporter = HttpMetricExporter(
            endpoint=f"http://127.0.0.1:{port}/v1/metrics",
            timeout=EXPORT_TIMEOUT_SECONDS,
        )
        provider = flushed_meter_provider(exporter, "cli-test")
        try:
            span = record_request_durations(
                provider.get_meter("cli"), TracerProvider().get_tracer("cli")
            )
        finally:
            # The last export must reach the receiver before it stops.
            provider.shutdown()
        trace_id, _ = hex_ids(span)

        cli.stderr.wait_for(
            r"http metrics export: 3 point\(s\), services: cli-test$", WAIT_SECONDS
        )
        assert cli.signal_and_wait(signal.SIGTERM) == 0
    printed = "\n".join(cli.stdout.rest())

    for line in [
        r"http\.server\.request\.duration +GET /cart 200 +count 2 +mean 500\.000 ms",
        r"http\.server\.active_requests +GET /cart +value 0",
        r"queue\.depth +value 7",
    ]:
        pattern = rf"^cli-test +{line} +exemplar → trace {trace_id}$"
        assert re.search(pattern, printed, re.MULTILINE), printed


def test_cli_exits_zero_on_sigint() -> None:
    with running_cli() as cli:
        cli.stdout.wait_for(LISTENING_LINE.pattern, CLI_STARTUP_SECONDS)

        assert cli.signal_and_wait(signal.SIGINT) == 0


def test_package_imports_without_the_opentelemetry_sdk() -> None:
    # Blocking the SDK and exporters proves the receiver only needs grpcio,
    # opentelemetry-proto and protobuf.
    code = (
        "import sys\n"
        "for name in ('opentelemetry.sdk', 'opentelemetry.exporter'):\n"
        "    sys.modules[name] = None\n"
        "import otlp_receiver, otlp_receiver.__main__\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_STARTUP_SECONDS,
    )
    assert result.returncode == 0, result.stderr


def test_span_events_arrive_with_their_attributes():
    with OtlpReceiver(grpc_port=0, http_port=None) as receiver:
        provider = TracerProvider()
        provider.add_span_processor(
            SimpleSpanProcessor(
                GrpcSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
            )
        )
        with provider.get_tracer("test").start_as_current_span("failing") as span:
            span.record_exception(ValueError("boom"))
        provider.shutdown()

        (received,) = receiver.wait_for_spans(1)

    (event,) = received.events
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "boom"


# metrics


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_metrics_arrive_with_names_units_attributes_counts_and_span_exemplars(
    receiver: OtlpReceiver, meter_provider: MakeMeterProvider, transport: TransportName
) -> None:
    provider = meter_provider(make_exporter(receiver, transport, "metrics"), "checkout")
    span = record_request_durations(
        provider.get_meter("tests.otlp_receiver"), TracerProvider().get_tracer("t")
    )
    provider.force_flush()

    points = receiver.wait_for_metrics(
        ("checkout", "http.server.request.duration"),
        ("checkout", "http.server.active_requests"),
        ("checkout", "queue.depth"),
        timeout=WAIT_SECONDS,
    )
    by_name = {point.name: point for point in points}
    assert list(by_name) == [
        "http.server.request.duration",
        "http.server.active_requests",
        "queue.depth",
    ]
    duration = by_name["http.server.request.duration"]
    trace_id, span_id = hex_ids(span)
    assert (duration.kind, duration.unit) == ("histogram", "s")
    assert duration.attributes == {**CART_ROUTE, "http.response.status_code": 200}
    assert (duration.count, duration.sum) == (2, sum(DURATIONS))
    assert duration.explicit_bounds == (0.1, 0.5, 1.0)
    assert duration.bucket_counts == (0, 1, 1, 0)
    assert {(e.trace_id, e.span_id, e.value) for e in duration.exemplars} == {
        (trace_id, span_id, seconds) for seconds in DURATIONS
    }
    assert duration.exemplar_trace_id == trace_id
    active = by_name["http.server.active_requests"]
    assert (active.kind, active.unit, active.value) == ("sum", "{request}", 0)
    assert active.attributes == CART_ROUTE
    gauge = by_name["queue.depth"]
    assert (gauge.kind, gauge.value) == ("gauge", 7)
    assert {(p.service_name, p.service_instance_id) for p in points} == {
        ("checkout", "instance-1")
    }
    assert {point.transport for point in points} == {transport}
    (request,) = receiver.requests()
    assert (request.signal, request.point_count, request.span_count) == (
        "metrics",
        len(points),
        0,
    )
    assert receiver.spans() == []


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_the_sdk_metric_exporter_logs_no_error_against_the_receiver(
    receiver: OtlpReceiver,
    meter_provider: MakeMeterProvider,
    transport: TransportName,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = meter_provider(make_exporter(receiver, transport, "metrics"), "checkout")
    provider.get_meter("tests.otlp_receiver").create_counter("orders").add(1)

    with caplog.at_level(logging.WARNING, logger="opentelemetry"):
        provider.force_flush()

    assert [point.name for point in receiver.metric_points()] == ["orders"]
    assert [record.getMessage() for record in caplog.records] == []


def test_the_newest_cumulative_point_of_each_series_holds_the_total(
    receiver: OtlpReceiver, meter_provider: MakeMeterProvider
) -> None:
    provider = meter_provider(make_exporter(receiver, "grpc", "metrics"), "checkout")
    orders = provider.get_meter("tests.otlp_receiver").create_counter("orders")
    orders.add(1, {"shop": "north"})
    provider.force_flush()
    orders.add(2, {"shop": "north"})
    orders.add(5, {"shop": "south"})
    provider.force_flush()

    newest = receiver.wait_for_metrics(("checkout", "orders"), timeout=WAIT_SECONDS)

    points = receiver.metric_points()
    assert [(p.attributes["shop"], p.value) for p in points] == [
        ("north", 1),
        ("north", 3),
        ("south", 5),
    ]
    assert latest_points(points) == newest
    assert [(p.attributes["shop"], p.value) for p in newest] == [
        ("north", 3),
        ("south", 5),
    ]


def test_wait_for_metrics_times_out_naming_what_is_missing_and_what_arrived(
    receiver: OtlpReceiver, meter_provider: MakeMeterProvider
) -> None:
    provider = meter_provider(make_exporter(receiver, "http", "metrics"), "checkout")
    provider.get_meter("tests.otlp_receiver").create_counter("orders").add(1)
    provider.force_flush()

    receiver.wait_for_metrics(("checkout", "orders"), timeout=WAIT_SECONDS)

    started = time.monotonic()
    with pytest.raises(
        TimeoutError,
        match=r"^no checkout refunds, billing orders within 0.3s; "
        "arrived: checkout orders$",
    ):
        receiver.wait_for_metrics(
            ("checkout", "orders"),
            ("checkout", "refunds"),
            ("billing", "orders"),
            timeout=0.3,
        )
    assert time.monotonic() - started < 2


def metric_point(name: str, kind: str, unit: str, **fields: object) -> MetricPoint:
    return MetricPoint(
        name=name,
        unit=unit,
        kind=kind,
        attributes={},
        time_ns=1,
        service_name="checkout",
        **fields,  # type: ignore[arg-type]
    )


def test_metric_lines_show_count_and_mean_or_value_and_the_newest_exemplar() -> None:
    older = Exemplar(trace_id="a" * 32, span_id="1" * 16, value=0.2, time_ns=10)
    newer = Exemplar(trace_id="b" * 32, span_id="2" * 16, value=0.4, time_ns=20)
    outside_a_span = Exemplar(trace_id="", span_id="", value=0.1, time_ns=30)
    route = {"http.request.method": "GET", "http.route": "/cart", "url.scheme": "x"}
    points = [
        replace(
            metric_point("http.server.request.duration", "histogram", "s"),
            attributes={**route, "http.response.status_code": 200},
            count=4,
            sum=0.5,
            exemplars=(newer, outside_a_span, older),
        ),
        replace(
            metric_point("http.server.active_requests", "sum", "{request}", value=2),
            attributes=route,
        ),
        metric_point("payload", "gauge", "By", value=1.5),
    ]

    lines = metric_lines(points)

    assert [" ".join(line.split()) for line in lines] == [
        "checkout http.server.request.duration GET /cart 200 count 4 mean 125.000 ms"
        f" exemplar → trace {'b' * 32}",
        "checkout http.server.active_requests GET /cart value 2",
        "checkout payload value 1.5 By",
    ]
    assert lines[0].index("count") == lines[1].index("value") == lines[2].index("value")

"""Command line entry point: ``python -m otlp_receiver``.

Runs a receiver until SIGINT or SIGTERM, then exits with code 0.

stdout carries the startup line, flushed at once so a parent process can read
the bound ports (useful with port 0)::

    otlp_receiver listening grpc=127.0.0.1:4317 http=127.0.0.1:4318

and, with ``--print-traces``, the waterfall of each trace once it has settled
(quiet_traces.py: quiet for a second and looking whole, or quiet for
``--settle-seconds``); a trace that gets more spans after it was printed is
printed again under an ``update:`` line, and with ``--print-metrics`` one line
per metric data point as each metrics export arrives (metric_lines.py). stderr
carries one log line per export request.
A parent that pipes stdout or stderr must keep reading them, or the receiver
blocks once the pipe buffer is full.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from otlp_receiver.grpc_transport import host_port
from otlp_receiver.jsonl import JsonlAppender
from otlp_receiver.metric_lines import metric_lines
from otlp_receiver.model import ExportRecord, MetricPoint, ReceivedSpan
from otlp_receiver.quiet_traces import (
    DEFAULT_SETTLE_SECONDS,
    QuietTrace,
    QuietTraceTracker,
)
from otlp_receiver.receiver import DEFAULT_HOST, ExportListener, OtlpReceiver

DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
POLL_SECONDS = 0.2

logger = logging.getLogger("otlp_receiver")
# Metrics are printed from the transports' threads, traces from the main one.
_printing = threading.Lock()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m otlp_receiver",
        description="Local OTLP trace and metrics receiver (gRPC and "
        "HTTP/protobuf) for development and tests.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind")
    parser.add_argument(
        "--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="0 picks a free port"
    )
    parser.add_argument(
        "--http-port", type=int, default=DEFAULT_HTTP_PORT, help="0 picks a free port"
    )
    parser.add_argument(
        "--jsonl", metavar="PATH", help="append every received span to PATH"
    )
    parser.add_argument(
        "--print-traces",
        action="store_true",
        help="print a waterfall of each trace once it has been quiet for 1 s and "
        "looks whole, or for --settle-seconds",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=DEFAULT_SETTLE_SECONDS,
        help="how long a trace that looks partial (a parent not arrived, a CLIENT "
        "span without a child) waits for its late spans before it is printed "
        "(default: %(default)s, longer than the batch processor's 5 s)",
    )
    parser.add_argument(
        "--print-metrics",
        action="store_true",
        help="print one line per metric data point of each metrics export",
    )
    parser.add_argument(
        "--ascii", action="store_true", help="draw waterfalls with ASCII only"
    )
    return parser.parse_args(argv)


def listening_line(receiver: OtlpReceiver) -> str:
    return " ".join(
        [
            "otlp_receiver listening",
            f"grpc={_address(receiver.host, receiver.grpc_port)}",
            f"http={_address(receiver.host, receiver.http_port)}",
        ]
    )


def _address(host: str, port: int | None) -> str:
    return "off" if port is None else host_port(host, port)


def _request_stop_on_signals(stop: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def _print(text: str) -> None:
    with _printing:
        print(text, flush=True)


def _export_listener(
    jsonl: JsonlAppender | None,
    quiet_traces: QuietTraceTracker | None,
    print_metrics: bool,
) -> ExportListener:
    def on_export(
        record: ExportRecord, spans: list[ReceivedSpan], points: list[MetricPoint]
    ) -> None:
        services = ", ".join(name or "(none)" for name in record.service_names) or "-"
        if record.signal == "metrics":
            logger.info(
                "%s metrics export: %d point(s), services: %s",
                record.transport,
                record.point_count,
                services,
            )
            if print_metrics and points:
                _print("\n".join(metric_lines(points)) + "\n")
            return
        logger.info(
            "%s export: %d span(s), services: %s",
            record.transport,
            record.span_count,
            services,
        )
        if jsonl is not None:
            jsonl.append(spans)
        if quiet_traces is not None:
            quiet_traces.note(spans)

    return on_export


def describe(trace: QuietTrace, settle_seconds: float) -> tuple[str, str]:
    """The lines printed before and after a trace's waterfall (may be empty)."""
    before = ""
    if trace.reported_before:
        late = trace.span_count - trace.reported_before
        before = (
            f"update: {late} more span(s) of trace {trace.trace_id} arrived after "
            f"it was printed with {trace.reported_before}; the whole trace now:"
        )
    after = ""
    if trace.open_ends:
        after = "\n".join(
            [f"incomplete? nothing more arrived within {settle_seconds:g} s:"]
            + [f"  - {end}" for end in trace.open_ends]
        )
    return before, after


def _print_traces(
    receiver: OtlpReceiver, traces: list[QuietTrace], args: argparse.Namespace
) -> None:
    for trace in traces:
        if trace.trace_id in receiver.traces():
            before, after = describe(trace, args.settle_seconds)
            waterfall = receiver.render(trace.trace_id, ascii=args.ascii)
            text = "\n".join(line for line in (before, waterfall, after) if line)
            _print(text + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()
    _request_stop_on_signals(stop)
    quiet_traces = (
        QuietTraceTracker(settle_seconds=args.settle_seconds)
        if args.print_traces
        else None
    )
    jsonl = JsonlAppender(args.jsonl) if args.jsonl else None
    receiver = OtlpReceiver(
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        on_export=_export_listener(jsonl, quiet_traces, args.print_metrics),
    )
    try:
        receiver.start()
    except OSError as error:
        print(f"otlp_receiver: {error}", file=sys.stderr)
        return 1
    try:
        print(listening_line(receiver), flush=True)
        while not stop.wait(POLL_SECONDS):
            if quiet_traces is not None:
                _print_traces(receiver, quiet_traces.pop_quiet(), args)
    finally:
        receiver.stop()
    if quiet_traces is not None:
        # Traces still settling when we were stopped are shown rather than lost.
        _print_traces(receiver, quiet_traces.pop_all(), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

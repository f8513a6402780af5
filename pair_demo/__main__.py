"""``python -m pair_demo`` (``make demo``): the tutorial's pair, one connected trace.

Its stages, one ``==>`` line each, are walked through in docs/onboarding.md.
Exit code 0 means the trace arrived whole (five spans, one trace, every parent
present, in the expected chain) and each request duration came with an exemplar
in it. 1 means not, or a stage failed; 128 plus the signal number means it was
interrupted. Every process the demo started is stopped in each case.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from otlp_receiver import OtlpReceiver, ReceivedSpan, metric_lines
from pair_demo.trace_check import PAIR_CHAIN, PAIR_DURATIONS, find_problems
from pair_demo.traceparent import crossed_header
from service_harness.environment import tracing_environment
from service_harness.health import ServiceNotHealthy
from service_harness.matrix import PROCESSORS, PROTOCOLS
from service_harness.pair import PairOptions, RunningPair
from service_harness.projects import (
    TEMPLATE_DIR,
    BakedPair,
    ProjectSetupError,
    bake_pair,
    install_editable,
    uninstall,
)

TRACE_TIMEOUT = 20.0
# Each service sends its metrics as it stops; that export is done when it exits.
METRICS_TIMEOUT = 10.0


class StopRequested(KeyboardInterrupt):
    """SIGINT or SIGTERM reached the demo; unwinding stops what it started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def stage(message: str) -> None:
    print(f"==> {message}", flush=True)


def detail(text: str) -> None:
    lines = (f"    {line}" if line else "" for line in text.splitlines())
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pair_demo",
        description="Bake service_a and service_b from examples/, run them, call "
        "service_a once and show the one trace both services made.",
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, default="grpc")
    parser.add_argument("--processor", choices=PROCESSORS, default="batch")
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch directory and installs"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="import the baked services from their src directories (PYTHONPATH) "
        "instead of pip install -e",
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="always use free ports, not the examples' 8000 and 8001",
    )
    return parser.parse_args(argv)


def handle_stop_signals() -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        # A second signal must not cut the clean-up that the first one started.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise StopRequested(signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def announce_bake(config_file: Path) -> None:
    stage(f"baking {config_file.stem} from {config_file.relative_to(TEMPLATE_DIR)}")


def install(baked: BakedPair) -> None:
    slugs = " and ".join(service.slug for service in baked)
    stage(f"installing {slugs} into {sys.prefix} (pip install -e)")
    install_editable([service.project_dir for service in baked])


def start_receiver(protocol: str) -> OtlpReceiver:
    # Only the chosen transport listens, so an arriving span proves the protocol.
    grpc = protocol == "grpc"
    receiver = OtlpReceiver(
        grpc_port=0 if grpc else None, http_port=None if grpc else 0
    ).start()
    stage(
        f"local OTLP receiver listening for {protocol} at {receiver.endpoint(protocol)}"
    )
    return receiver


def wait_for_trace(receiver: OtlpReceiver, processor: str) -> list[ReceivedSpan]:
    why = " (the batch processor sends every 5 s)" if processor == "batch" else ""
    stage(f"waiting up to {TRACE_TIMEOUT:.0f} s for {len(PAIR_CHAIN)} spans{why}")
    try:
        return receiver.wait_for_spans(len(PAIR_CHAIN), timeout=TRACE_TIMEOUT)
    except TimeoutError as error:
        stage(f"the trace is not complete: {error}")
        return receiver.spans()


def show_trace(receiver: OtlpReceiver, spans: list[ReceivedSpan]) -> str | None:
    """Print the header that crossed, the waterfall and the trace id; return it."""
    crossed = crossed_header(spans)
    if crossed is None:
        stage("no service_b SERVER span has a service_a CLIENT parent: no traceparent")
    else:
        stage(
            f"traceparent sent by {crossed.client.service_name}'s CLIENT span "
            f"{crossed.client.name!r} and continued by "
            f"{crossed.server.service_name}'s SERVER span {crossed.server.name!r}:"
        )
        detail(f"traceparent: {crossed.header}")
    stage("waterfall")
    detail(receiver.render() if spans else "(no spans)")
    trace_ids = {span.trace_id for span in spans}
    trace_id = trace_ids.pop() if len(trace_ids) == 1 else None
    if trace_id is not None:
        stage(f"trace id {trace_id}")
    return trace_id


def show_metrics(receiver: OtlpReceiver, trace_id: str | None) -> list[str]:
    """Print the pair's request durations, each saying whether its exemplar is
    in the trace above; return what falls short."""
    try:
        points = receiver.wait_for_metrics(*PAIR_DURATIONS, timeout=METRICS_TIMEOUT)
    except TimeoutError as error:
        stage(f"the metrics are not complete: {error}")
        return [f"metrics: {error}"]
    stage("request durations each service sent as it stopped, and their exemplars:")
    problems = []
    for line, point in zip(metric_lines(points), points, strict=True):
        joined = point.exemplar_trace_id == trace_id
        detail(f"{line} ({'the' if joined else 'NOT the'} trace above)")
        if not joined:
            problems.append(f"{point.service_name} {point.name}: no exemplar in it")
    return problems


def run_pair(args: argparse.Namespace, baked: BakedPair, scratch: Path) -> list[str]:
    """Run the pair against a fresh receiver; return what fell short."""
    receiver = start_receiver(args.protocol)
    try:
        options = PairOptions(
            log_dir=scratch / "logs",
            env=tracing_environment(
                args.protocol, receiver.endpoint(args.protocol), args.processor
            ),
            import_from_source=args.no_install,
            use_example_ports=not args.free_ports,
        )
        with RunningPair(baked, options, report=stage) as pair:
            stage(f"calling GET {pair.route_url}")
            answer = pair.call_service_a()
            stage(f"service_a answered HTTP {answer.status}:")
            detail(json.dumps(answer.body, indent=2))
            trace_id = show_trace(receiver, wait_for_trace(receiver, args.processor))
            stage("stopping the services (each flushes its last spans and metrics)")
        # After the stop every span has been flushed, so late extras show up too.
        problems = find_problems(receiver.spans()) + pair.stop_problems
        problems += show_metrics(receiver, trace_id)
    finally:
        receiver.stop()
        stage("local OTLP receiver stopped")
    return problems


def report_verdict(problems: list[str]) -> int:
    if problems:
        stage("the trace is NOT whole, or its metrics do NOT point at it:")
        detail("\n".join(f"- {problem}" for problem in problems))
        return 1
    stage(f"the trace is whole: {len(PAIR_CHAIN)} spans, one trace, every parent")
    return 0


def clean_up(scratch: Path, baked: BakedPair | None, installed: bool) -> None:
    if installed and baked is not None:
        # An editable install of a deleted directory would be left dangling.
        slugs = [service.slug for service in baked]
        stage(f"uninstalling {', '.join(slugs)}")
        try:
            uninstall(slugs)
        except ProjectSetupError as error:
            stage(f"could not uninstall: {error}")
    stage(f"removing {scratch}")
    shutil.rmtree(scratch, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    handle_stop_signals()
    scratch = Path(tempfile.mkdtemp(prefix="pair_demo-"))
    stage(f"scratch directory {scratch}")
    baked: BakedPair | None = None
    installed = False
    try:
        baked = bake_pair(scratch, announce_bake)
        if not args.no_install:
            # Set first: a half-finished install is uninstalled too.
            installed = True
            install(baked)
        return report_verdict(run_pair(args, baked, scratch))
    except StopRequested as stop:
        stage(f"interrupted by {stop}: every process the demo started was stopped")
        return 128 + stop.signum
    except (ServiceNotHealthy, ProjectSetupError, OSError) as error:
        stage(f"failed: {error}")
        if not args.keep:
            stage("run again with --keep to keep the scratch directory and its logs")
        return 1
    finally:
        if args.keep:
            stage(f"kept {scratch} (logs in {scratch / 'logs'})")
        else:
            clean_up(scratch, baked, installed)


if __name__ == "__main__":
    sys.exit(main())

"""``OtlpReceiver``: the object tests and the CLI use.

It wires the two transports to one :class:`TelemetryStore`, owns their
start/stop lifecycle, and offers the query, wait, render and dump helpers on top.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from otlp_receiver.decoding import (
    ExportHandler,
    ExportRequest,
    decode_metrics_request,
    decode_request,
)
from otlp_receiver.grpc_transport import GrpcTransport, host_port
from otlp_receiver.http_transport import HttpTransport
from otlp_receiver.jsonl import write_jsonl
from otlp_receiver.model import (
    ExportRecord,
    MetricPoint,
    ReceivedSpan,
    Signal,
    Transport,
    group_by_trace,
    latest_points,
)
from otlp_receiver.store import TelemetryStore
from otlp_receiver.waterfall import DEFAULT_BAR_WIDTH, render_waterfall

DEFAULT_HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0
_LISTED_SPANS_IN_ERRORS = 10
# Addresses one can listen on but should not connect to.
_CONNECTABLE_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}

ExportListener = Callable[[ExportRecord, list[ReceivedSpan], list[MetricPoint]], None]
TracePredicate = Callable[[list[ReceivedSpan]], bool]

logger = logging.getLogger(__name__)


class OtlpReceiver:
    """Receives OTLP traces and metrics over gRPC and HTTP/protobuf and keeps
    them in memory.

    ``grpc_port``/``http_port``: 0 picks a free port, None disables that
    transport. ``on_export`` is called after each export request is stored,
    from the transport's thread, with the request record, its spans and its
    metric points.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        grpc_port: int | None = 0,
        http_port: int | None = 0,
        on_export: ExportListener | None = None,
    ) -> None:
        self.host = host
        self._grpc_port_requested = grpc_port
        self._http_port_requested = http_port
        self._on_export = on_export
        self._store = TelemetryStore()
        self._lifecycle = threading.Lock()
        self._grpc: GrpcTransport | None = None
        self._http: HttpTransport | None = None
        # Kept after stop so callers can check that the ports were released.
        self._grpc_bound_port: int | None = None
        self._http_bound_port: int | None = None

    # lifecycle

    def start(self) -> OtlpReceiver:
        """Bind and start the enabled transports; a no-op when already running."""
        with self._lifecycle:
            if self._grpc is not None or self._http is not None:
                return self
            grpc = self._new_grpc_transport()
            http = self._new_http_transport()
            if grpc is not None:
                grpc.start()
            try:
                if http is not None:
                    http.start()
            except OSError:
                if grpc is not None:
                    grpc.stop(grace=0)
                raise
            self._grpc, self._http = grpc, http
            self._grpc_bound_port = grpc.port if grpc is not None else None
            self._http_bound_port = http.port if http is not None else None
        return self

    def stop(self) -> None:
        """Stop both transports and release their ports; safe to call twice."""
        with self._lifecycle:
            grpc, http = self._grpc, self._http
            self._grpc = self._http = None
            if grpc is not None:
                grpc.stop()
            if http is not None:
                http.stop()

    @property
    def is_running(self) -> bool:
        return self._grpc is not None or self._http is not None

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # addresses

    @property
    def grpc_port(self) -> int | None:
        """The bound gRPC port (also after stop); None if disabled or never started."""
        return self._grpc_bound_port

    @property
    def http_port(self) -> int | None:
        """The bound HTTP port (also after stop); None if disabled or never started."""
        return self._http_bound_port

    @property
    def grpc_endpoint(self) -> str:
        """``http://host:port``, for the gRPC ``OTLPSpanExporter(endpoint=...)``."""
        return self._endpoint("gRPC", self.grpc_port)

    @property
    def http_endpoint(self) -> str:
        """Base URL for OTLP/HTTP; exporters append ``/v1/traces``, ``/v1/metrics``."""
        return self._endpoint("HTTP", self.http_port)

    def endpoint(self, protocol: str) -> str:
        """The endpoint for an exporter's OTLP protocol (``grpc`` or ``http/...``)."""
        return self.grpc_endpoint if protocol == "grpc" else self.http_endpoint

    # received data

    def spans(self) -> list[ReceivedSpan]:
        """All received spans in arrival order."""
        return self._store.spans()

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        """Spans grouped by trace id, traces in order of their first arrival."""
        return self._store.traces()

    def metric_points(self) -> list[MetricPoint]:
        """All received metric data points in arrival order."""
        return self._store.points()

    def requests(self) -> list[ExportRecord]:
        """One record per export request, in arrival order."""
        return self._store.requests()

    def clear(self) -> None:
        self._store.clear()

    def wait_for_spans(
        self, count: int, timeout: float = DEFAULT_TIMEOUT
    ) -> list[ReceivedSpan]:
        """Block until at least ``count`` spans arrived; return all spans.

        Raises TimeoutError, saying how many arrived, after ``timeout`` seconds.
        """
        spans = self._store.wait_until(
            self._store.spans,
            lambda spans: spans if len(spans) >= count else None,
            timeout,
        )
        if spans is None:
            arrived = self.spans()
            raise TimeoutError(
                f"expected at least {count} span(s) within {timeout}s, "
                f"but {len(arrived)} arrived{_describe(arrived)}"
            )
        return spans

    def wait_for_trace(
        self,
        trace_id: str | None = None,
        *,
        min_spans: int = 1,
        predicate: TracePredicate | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[ReceivedSpan]:
        """Block until a trace matches; return its spans in arrival order.

        A trace matches when it has ``trace_id`` (if given), at least
        ``min_spans`` spans and ``predicate(spans)`` is true (if given). The
        first matching trace by arrival wins. Raises TimeoutError after
        ``timeout`` seconds, describing what did arrive.
        """

        def matching_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
            for candidate_id, trace_spans in group_by_trace(spans).items():
                if trace_id is not None and candidate_id != trace_id:
                    continue
                if len(trace_spans) < min_spans:
                    continue
                if predicate is not None and not predicate(trace_spans):
                    continue
                return trace_spans
            return None

        trace_spans = self._store.wait_until(self._store.spans, matching_trace, timeout)
        if trace_spans is None:
            arrived = self.spans()
            wanted = f"trace_id={trace_id}, min_spans={min_spans}" + (
                ", predicate" if predicate is not None else ""
            )
            raise TimeoutError(
                f"no trace matched ({wanted}) within {timeout}s; "
                f"{len(arrived)} span(s) in {len(group_by_trace(arrived))} "
                f"trace(s) arrived{_describe(arrived)}"
            )
        return trace_spans

    def wait_for_metrics(
        self, *metrics: tuple[str, str], timeout: float = DEFAULT_TIMEOUT
    ) -> list[MetricPoint]:
        """Block until each ``(service name, metric name)`` has a point; return
        the newest point of every series of those metrics, in the order named.

        Raises TimeoutError, naming what is missing and what arrived, after
        ``timeout`` seconds.
        """
        wanted = list(dict.fromkeys(metrics))

        def newest(points: list[MetricPoint]) -> tuple[list[MetricPoint]] | None:
            found = [p for p in latest_points(points) if _metric(p) in wanted]
            if {_metric(point) for point in found} != set(wanted):
                return None
            # A tuple, so that nothing asked for and nothing found still counts.
            return (sorted(found, key=lambda point: wanted.index(_metric(point))),)

        found = self._store.wait_until(self._store.points, newest, timeout)
        if found is None:
            arrived = dict.fromkeys(map(_metric, self.metric_points()))
            missing = [metric for metric in wanted if metric not in arrived]
            raise TimeoutError(
                f"no {_listed(missing)} within {timeout}s; "
                f"arrived: {_listed(arrived) or 'no metrics'}"
            )
        return found[0]

    # output

    def render(
        self,
        trace_id: str | None = None,
        width: int = DEFAULT_BAR_WIDTH,
        ascii: bool = False,
    ) -> str:
        """Waterfall of one trace, or of every trace when ``trace_id`` is None."""
        if trace_id is None:
            return render_waterfall(self.spans(), width=width, ascii=ascii)
        spans = self.traces().get(trace_id)
        if not spans:
            raise KeyError(f"no spans received for trace {trace_id}")
        return render_waterfall(spans, width=width, ascii=ascii)

    def dump_jsonl(self, path: str | Path, *, append: bool = False) -> int:
        """Write every received span to ``path`` as JSON lines; return the count."""
        return write_jsonl(self.spans(), path, append=append)

    # internals

    def _new_grpc_transport(self) -> GrpcTransport | None:
        if self._grpc_port_requested is None:
            return None
        handler = self._export_handler("grpc")
        return GrpcTransport(self.host, self._grpc_port_requested, handler)

    def _new_http_transport(self) -> HttpTransport | None:
        if self._http_port_requested is None:
            return None
        handler = self._export_handler("http")
        return HttpTransport(self.host, self._http_port_requested, handler)

    def _export_handler(self, transport: Transport) -> ExportHandler:
        def handle(request: ExportRequest, headers: dict[str, str]) -> None:
            self._ingest(request, headers, transport)

        return handle

    def _ingest(
        self, request: ExportRequest, headers: dict[str, str], transport: Transport
    ) -> None:
        signal: Signal = "traces"
        spans: list[ReceivedSpan] = []
        points: list[MetricPoint] = []
        if isinstance(request, ExportMetricsServiceRequest):
            signal, points = "metrics", decode_metrics_request(request, transport)
        else:
            spans = decode_request(request, transport)
        services = tuple(dict.fromkeys(item.service_name for item in [*spans, *points]))
        record = ExportRecord(
            transport, headers, len(spans), services, signal, len(points)
        )
        self._store.add(record, spans, points)
        if self._on_export is None:
            return
        try:
            self._on_export(record, spans, points)
        except Exception:
            # The data is stored; failing the export would make the sender
            # retry and deliver it twice.
            logger.exception("on_export listener failed")

    def _endpoint(self, transport_name: str, port: int | None) -> str:
        if port is None:
            raise RuntimeError(
                f"no {transport_name} endpoint: the transport is disabled "
                "or the receiver was never started"
            )
        host = _CONNECTABLE_HOST.get(self.host, self.host)
        return f"http://{host_port(host, port)}"


def _describe(spans: Sequence[ReceivedSpan]) -> str:
    if not spans:
        return ""
    listed = ", ".join(
        f"{span.name!r} ({span.service_name or 'no service'}, "
        f"trace {span.trace_id[:8]})"
        for span in spans[:_LISTED_SPANS_IN_ERRORS]
    )
    more = len(spans) - _LISTED_SPANS_IN_ERRORS
    return f": {listed}" + (f" and {more} more" if more > 0 else "")


def _metric(point: MetricPoint) -> tuple[str, str]:
    return point.service_name, point.name


def _listed(metrics: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{service or 'no service'} {name}" for service, name in metrics)

"""Real sockets on 127.0.0.1 for the tests: an OTLP collector, an HTTP server, a
closed port. The collector speaks either protocol (OTLP/gRPC through
opentelemetry-proto's services, OTLP/HTTP protobuf) and keeps the spans and
metrics that arrive."""

import gzip
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

EXPORTER_MODULES = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http",
}


EXPORTER_PACKAGES = {
    "grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "http/protobuf": "opentelemetry-exporter-otlp-proto-http",
}


def needs_exporter(protocol: str) -> None:
    """Skip a test of ``protocol``'s exporter where it is not installed, saying why."""
    pytest.importorskip(
        EXPORTER_MODULES[protocol],
        reason=(
            f"by design: this project depends only on its own protocol's exporter, "
            f"not {EXPORTER_PACKAGES[protocol]}; these {protocol} tests run once "
            "it is installed (as OTEL_EXPORTER_OTLP_PROTOCOL="
            f"{protocol} would need)"
        ),
    )


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a handler still sleeping never blocks the stop
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass(frozen=True)
class Export:
    """One export request as it arrived: where, with which headers, what spans."""

    path: str
    headers: dict[str, str]
    request: ExportTraceServiceRequest


def resource_attributes(resource: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in resource.attributes}


class LoopbackCollector:
    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.exports: list[Export] = []
        self.metric_exports: list[ExportMetricsServiceRequest] = []
        self._arrived = threading.Condition()
        self._servers = ExitStack()
        self.endpoint = ""

    def record(self, export: Export) -> None:
        with self._arrived:
            self.exports.append(export)
            self._arrived.notify_all()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span that arrived."""
        pairs = []
        with self._arrived:
            for export in self.exports:
                for resource_spans in export.request.resource_spans:
                    attributes = resource_attributes(resource_spans.resource)
                    for scope_spans in resource_spans.scope_spans:
                        pairs += [(attributes, span) for span in scope_spans.spans]
        return pairs

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.spans()) >= count, timeout):
                raise TimeoutError(f"{len(self.spans())} of {count} spans arrived")
            return self.spans()

    def record_metrics(self, request: ExportMetricsServiceRequest) -> None:
        with self._arrived:
            self.metric_exports.append(request)
            self._arrived.notify_all()

    def metrics(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, metric) for every metric that arrived."""
        with self._arrived:
            return [
                (resource_attributes(resource_metrics.resource), metric)
                for request in self.metric_exports
                for resource_metrics in request.resource_metrics
                for scope_metrics in resource_metrics.scope_metrics
                for metric in scope_metrics.metrics
            ]

    def __enter__(self) -> "LoopbackCollector":
        start = self._start_grpc if self.protocol == "grpc" else self._start_http
        self.endpoint = start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._servers.close()

    def _start_grpc(self) -> str:
        import grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        collector = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802 -- the gRPC method name
                headers = {k.lower(): v for k, v in context.invocation_metadata()}
                collector.record(Export("", headers, request))
                return ExportTraceServiceResponse()

        class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):  # noqa: N802 -- the gRPC method name
                collector.record_metrics(request)
                return ExportMetricsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            TraceService(), server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            MetricsService(), server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._servers.callback(lambda: server.stop(grace=None).wait(5))
        return f"http://127.0.0.1:{port}"

    def _start_http(self) -> str:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.endswith("/v1/metrics"):
                    metrics = ExportMetricsServiceRequest.FromString(body)
                    collector.record_metrics(metrics)
                    answer = ExportMetricsServiceResponse().SerializeToString()
                else:
                    request = ExportTraceServiceRequest.FromString(body)
                    collector.record(Export(self.path, headers, request))
                    answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return self._servers.enter_context(http_server(Handler))

"""A minimal OTLP trace collector on 127.0.0.1, for tests that export for real.

It speaks the protocol the service was generated for (OTLP/gRPC through
opentelemetry-proto's generated service, or OTLP/HTTP protobuf on /v1/traces),
keeps what arrives in memory, and stops on exit from its `with` block.
"""

import gzip
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class Export:
    """One export request as it arrived: where, with which headers, what spans."""

    path: str
    headers: dict[str, str]
    request: ExportTraceServiceRequest

    def spans(self) -> Iterator[tuple[dict[str, Any], Any]]:
        """Yield (resource attributes, span) for every span in the request."""
        for resource_spans in self.request.resource_spans:
            resource = {
                attribute.key: attribute.value.string_value
                for attribute in resource_spans.resource.attributes
            }
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield resource, span


class LoopbackCollector:
    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.exports: list[Export] = []
        self._arrived = threading.Condition()
        self._stop = lambda: None
        self.endpoint = ""

    def record(self, export: Export) -> None:
        with self._arrived:
            self.exports.append(export)
            self._arrived.notify_all()

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        with self._arrived:
            return [pair for export in self.exports for pair in export.spans()]

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.spans()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self.spans())} of {count} spans arrived in {timeout} s"
                    )
                self._arrived.wait(remaining)
            return self.spans()

    def __enter__(self) -> "LoopbackCollector":
        if self.protocol == "grpc":
            self._start_grpc()
        else:
            self._start_http()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def _start_grpc(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        collector = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):  # noqa: N802 -- the gRPC method name
                headers = {k.lower(): v for k, v in context.invocation_metadata()}
                collector.record(Export("", headers, request))
                return ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            TraceService(), server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._stop = lambda: server.stop(grace=None).wait(5)

    def _start_http(self) -> None:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
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

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        self._stop = stop

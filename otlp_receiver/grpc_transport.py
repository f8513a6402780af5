"""OTLP/gRPC transport: serves ``TraceService/Export`` and
``MetricsService/Export`` with the generated stubs.

It owns the gRPC server's lifecycle and turns call metadata into a plain header
dict; what happens to a request is up to the ``on_export`` callback.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent import futures

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from otlp_receiver.decoding import ExportHandler, ExportRequest

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS = (
    # Without this a second receiver on the same port binds "successfully" and
    # the kernel splits exports between the two.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


class _ExportService:
    """Both services' one method: hand the request over, answer with success."""

    response_type: type[Message]

    def __init__(self, on_export: ExportHandler) -> None:
        self._on_export = on_export

    def Export(self, request: ExportRequest, context: grpc.ServicerContext) -> Message:
        self._on_export(request, metadata_to_headers(context.invocation_metadata()))
        return self.response_type()


class _TraceService(_ExportService, trace_service_pb2_grpc.TraceServiceServicer):
    response_type = ExportTraceServiceResponse


class _MetricsService(_ExportService, metrics_service_pb2_grpc.MetricsServiceServicer):
    response_type = ExportMetricsServiceResponse


def metadata_to_headers(metadata: Iterable[tuple[str, str | bytes]]) -> dict[str, str]:
    """Lower-cased keys; repeated keys joined with ", "; binary values as hex."""
    headers: dict[str, str] = {}
    for key, value in metadata:
        text = value.hex() if isinstance(value, bytes) else value
        name = key.lower()
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(server: grpc.Server, address: str) -> int:
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen for OTLP/gRPC on {address}: {error}") from error
    # Older grpcio versions report a failed bind by returning port 0.
    if port == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {address}")
    return port


class GrpcTransport:
    """An OTLP/gRPC server on ``host:port`` (port 0 picks a free port)."""

    def __init__(
        self, host: str, port: int, on_export: ExportHandler, max_workers: int = 8
    ) -> None:
        self.host = host
        self._requested_port = port
        self._on_export = on_export
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self.port: int | None = None

    def start(self) -> int:
        """Bind and start serving; return the bound port."""
        executor = futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="otlp-grpc"
        )
        server = grpc.server(executor, options=SERVER_OPTIONS)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _TraceService(self._on_export), server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            _MetricsService(self._on_export), server
        )
        try:
            port = _bind(server, host_port(self.host, self._requested_port))
        except OSError:
            executor.shutdown(wait=False)
            raise
        server.start()
        self._server, self._executor, self.port = server, executor, port
        return port

    def stop(self, grace: float = 1.0) -> None:
        """Stop accepting calls, let in-flight ones finish for ``grace`` seconds."""
        server, executor = self._server, self._executor
        self._server = self._executor = None
        if server is None:
            return
        server.stop(grace).wait(grace + 1.0)
        if executor is not None:
            executor.shutdown(wait=False)

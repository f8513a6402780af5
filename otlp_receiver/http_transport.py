"""OTLP/HTTP transport, binary protobuf only: ``POST /v1/traces`` and
``POST /v1/metrics``.

It owns the HTTP server's lifecycle and the HTTP-level checks (path, method,
content type, content encoding, body framing); a well-formed request is handed
to the ``on_export`` callback. Error answers are plain text so a human reading
an exporter's log learns what to change.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otlp_receiver.decoding import ExportHandler, ExportRequest

TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"
# Each path's request message and the message a success is answered with.
EXPORTS: dict[str, tuple[type[ExportRequest], type[Message]]] = {
    TRACES_PATH: (ExportTraceServiceRequest, ExportTraceServiceResponse),
    METRICS_PATH: (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
JSON_CONTENT_TYPE = "application/json"
MAX_BODY_BYTES = 64 * 1024 * 1024
_WBITS_BY_ENCODING = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_IDENTITY_ENCODINGS = ("", "identity")

logger = logging.getLogger(__name__)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _OtlpHttpServer(ThreadingHTTPServer):
    """Also tracks open connections so stopping can end idle keep-alives."""

    def __init__(self, host: str, port: int, on_export: ExportHandler) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.on_export = on_export
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _OtlpRequestHandler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def end_idle_connections(self) -> None:
        # SHUT_RD wakes handlers blocked waiting for a next request, while a
        # response being written right now still reaches its client.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # The client may have closed it already; that is just as good.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)


class _OtlpRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otlp_receiver"
    server: _OtlpHttpServer

    def do_POST(self) -> None:
        try:
            request = self._read_export_request()
            self.server.on_export(request, self._lowercase_headers())
        except HttpError as error:
            self._send_text(error.status, error.message)
            return
        except Exception:
            logger.exception("failed to handle OTLP/HTTP export")
            self._send_text(
                500, "otlp_receiver failed to store the export; see its log"
            )
            return
        _, response_type = EXPORTS[self._path()]
        self._send(200, PROTOBUF_CONTENT_TYPE, response_type().SerializeToString())

    def do_GET(self) -> None:
        self._reject_method()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def _reject_method(self) -> None:
        if self._path() not in EXPORTS:
            self._send_text(404, _not_found_message(self._path()))
            return
        self._send_text(405, f"use POST for {self._path()}", allow="POST")

    def _read_export_request(self) -> ExportRequest:
        if self._path() not in EXPORTS:
            raise HttpError(404, _not_found_message(self._path()))
        request_type, _ = EXPORTS[self._path()]
        _check_content_type(self.headers.get("Content-Type", ""))
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        _check_content_encoding(encoding)
        body = _decompress(self._read_body(), encoding)
        try:
            return request_type.FromString(body)
        except DecodeError as error:
            raise HttpError(
                400, f"body is not a valid {request_type.__name__}: {error}"
            ) from error

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked_body()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise HttpError(411, "Content-Length or chunked Transfer-Encoding needed")
        try:
            length = int(length_header)
        except ValueError as error:
            raise HttpError(400, f"bad Content-Length {length_header!r}") from error
        if length < 0:
            raise HttpError(400, f"bad Content-Length {length_header!r}")
        _check_body_size(length)
        return self.rfile.read(length)

    def _read_chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as error:
                raise HttpError(400, f"bad chunk size line {size_line!r}") from error
            if size == 0:
                self._skip_trailers()
                return b"".join(chunks)
            received += size
            _check_body_size(received)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _skip_trailers(self) -> None:
        while self.rfile.readline(8192).strip():
            pass

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _lowercase_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            name = key.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _send_text(self, status: int, message: str, allow: str | None = None) -> None:
        # The body of a rejected request may still be unread, so the connection
        # cannot carry another request.
        self.close_connection = True
        extra = {"Connection": "close"}
        if allow is not None:
            extra["Allow"] = allow
        body = (message + "\n").encode("utf-8")
        self._send(status, "text/plain; charset=utf-8", body, extra)

    def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _not_found_message(path: str) -> str:
    return (
        f"no such endpoint {path!r}: otlp_receiver receives traces at "
        f"POST {TRACES_PATH} and metrics at POST {METRICS_PATH} (logs are not "
        "supported)"
    )


def _check_content_type(header: str) -> None:
    content_type = header.split(";", 1)[0].strip().lower()
    if content_type == PROTOBUF_CONTENT_TYPE:
        return
    if content_type == JSON_CONTENT_TYPE:
        raise HttpError(
            415,
            "OTLP/JSON is not supported by otlp_receiver; send binary protobuf "
            f"(Content-Type: {PROTOBUF_CONTENT_TYPE}, "
            "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)",
        )
    raise HttpError(
        415,
        f"unsupported Content-Type {header!r}; use {PROTOBUF_CONTENT_TYPE}",
    )


def _check_content_encoding(encoding: str) -> None:
    if encoding in _IDENTITY_ENCODINGS or encoding in _WBITS_BY_ENCODING:
        return
    raise HttpError(
        415, f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none"
    )


def _check_body_size(size: int) -> None:
    if size > MAX_BODY_BYTES:
        raise HttpError(413, f"body larger than {MAX_BODY_BYTES} bytes")


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding in _IDENTITY_ENCODINGS:
        return body
    decompressor = zlib.decompressobj(_WBITS_BY_ENCODING[encoding])
    try:
        # The length cap stops a small compressed body from exhausting memory.
        data = decompressor.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as error:
        raise HttpError(400, f"body is not valid {encoding} data: {error}") from error
    _check_body_size(len(data))
    if not decompressor.eof:
        raise HttpError(400, f"{encoding} body is truncated")
    return data


class HttpTransport:
    """An OTLP/HTTP server on ``host:port`` (port 0 picks a free port)."""

    def __init__(self, host: str, port: int, on_export: ExportHandler) -> None:
        self.host = host
        self._requested_port = port
        self._on_export = on_export
        self._server: _OtlpHttpServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        """Bind and start serving in a background thread; return the bound port."""
        try:
            server = _OtlpHttpServer(self.host, self._requested_port, self._on_export)
        except OSError as error:
            raise OSError(
                error.errno,
                f"cannot listen for OTLP/HTTP on {self.host}:{self._requested_port}: "
                f"{error.strerror or error}",
            ) from error
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="otlp-http",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        self.port = server.server_address[1]
        return self.port

    def stop(self, timeout: float = 2.0) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.end_idle_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout)

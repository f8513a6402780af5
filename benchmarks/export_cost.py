"""The export path in isolation: CPU per span to encode, and to encode and send.

Under load, py-spy cannot tell the span processor's worker running from the
worker ready to run but waiting for the core the event loop holds, so the
worker's own breakdown is measured here instead, without requests around it:
spans shaped like FastAPI's server spans (eight attributes, the service's
resource) are encoded by the OTLP encoder alone, then exported by the gRPC
exporter to a receiver on the other core, in batches of each size. Run on the
service core as `python -m benchmarks.export_cost ENDPOINT`; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from benchmarks.cpu_pinning import SERVICE_CORE, run_pinned_module

SPANS = 4096
BATCH_SIZES = (32, 512)
TIMEOUT_SECONDS = 120.0
SERVER_ATTRIBUTES = {
    "url.scheme": "http",
    "http.request.method": "GET",
    "network.protocol.version": "1.1",
    "server.address": "127.0.0.1",
    "server.port": 8000,
    "url.path": "/",
}


@dataclass(frozen=True)
class ExportCost:
    batch_size: int
    encode_us_per_span: float
    export_us_per_span: float
    # The longest single encode of one batch: how long the event loop can wait.
    longest_encode_ms: float


def server_spans(count: int) -> list:
    """Finished spans as FastAPI's telemetry makes them for `GET /`."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )
    from opentelemetry.trace import SpanKind

    kept = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "my_service", "service.version": "0.1.0"}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("fastapi", "0.165.0")
    for _ in range(count):
        span = tracer.start_span(
            "GET", kind=SpanKind.SERVER, attributes=SERVER_ATTRIBUTES
        )
        span.update_name("GET /")
        span.set_attributes(
            {**SERVER_ATTRIBUTES, "http.route": "/", "http.response.status_code": 200}
        )
        span.end()
    return list(kept.get_finished_spans())


def measure(endpoint: str, batch_sizes: Sequence[int], count: int) -> list[ExportCost]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )

    spans = server_spans(count)
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
    exporter.export(spans[:8])
    costs = []
    for size in batch_sizes:
        batches = [spans[i : i + size] for i in range(0, len(spans), size)]
        longest = 0.0
        started = time.process_time()
        for batch in batches:
            began = time.perf_counter()
            encode_spans(batch)
            longest = max(longest, time.perf_counter() - began)
        encoded = time.process_time() - started
        started = time.process_time()
        for batch in batches:
            exporter.export(batch)
        exported = time.process_time() - started
        costs.append(
            ExportCost(
                batch_size=size,
                encode_us_per_span=encoded * 1e6 / len(spans),
                export_us_per_span=exported * 1e6 / len(spans),
                longest_encode_ms=longest * 1000,
            )
        )
    exporter.shutdown()
    return costs


def run_export_cost(
    endpoint: str, batch_sizes: Sequence[int] = BATCH_SIZES, count: int = SPANS
) -> list[ExportCost]:
    """Measure in a process of its own on the service core."""
    sizes = ",".join(str(size) for size in batch_sizes)
    arguments = [endpoint, "--batch-sizes", sizes, "--spans", str(count)]
    rows = run_pinned_module(
        SERVICE_CORE, "benchmarks.export_cost", arguments, TIMEOUT_SECONDS
    )
    return [ExportCost(**row) for row in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_cost")
    parser.add_argument("endpoint", help="the receiver's gRPC endpoint")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--spans", type=int, default=SPANS)
    arguments = parser.parse_args(argv)
    sizes = [int(size) for size in arguments.batch_sizes.split(",")]
    costs = measure(arguments.endpoint, sizes, arguments.spans)
    print(json.dumps([asdict(cost) for cost in costs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What is measured: the configurations, the endpoints and the spans each should make.

A configuration is one way of running a service: untraced (no spans, no
metrics), or traced (metrics on unless it says otherwise) with a given
processor, protocol, sampler or collector state. Each traced configuration names the
untraced one its requests per second are divided by, measured in the same
repetition, so a ratio never mixes two moments of a shared machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Which service runs: a baked project, the reference app, a peer's app
# (benchmarks.reference_app), or the baked pair.
SERVICE = "service"
REFERENCE = "reference"
CONTRIB = "contrib"
LITE_BOOTSTRAP = "lite-bootstrap"
LOGFIRE = "logfire"
PAIR = "pair"

# Where spans and metrics go: the receiver over gRPC or HTTP (spans counted),
# else a closed port: a collector down, or none (nothing should reach it).
COLLECTOR_GRPC = "grpc"
COLLECTOR_HTTP = "http"
COLLECTOR_DOWN = "down"
NO_COLLECTOR = "none"

ROOT = "root"
EXAMPLE = "example"

# Spans one request makes, by what runs and which route it calls. The
# reference app keeps FastAPI's operation spans on: dependencies, endpoint and
# serialization each get one, on top of the server span.
SPANS_PER_REQUEST = {
    (SERVICE, ROOT): 1,
    (SERVICE, EXAMPLE): 2,
    (REFERENCE, ROOT): 4,
    (REFERENCE, EXAMPLE): 5,
    # The contrib instrumentation's defaults (lite-bootstrap applies it too):
    # the server span and one per ASGI `send` (the response's start and body).
    (CONTRIB, ROOT): 3,
    (CONTRIB, EXAMPLE): 4,
    (LITE_BOOTSTRAP, ROOT): 3,
    (LITE_BOOTSTRAP, EXAMPLE): 4,
    # Logfire leaves the `send` and `receive` spans out.
    (LOGFIRE, ROOT): 1,
    (LOGFIRE, EXAMPLE): 2,
    # service_a: server, operation, client; service_b: server, operation.
    (PAIR, EXAMPLE): 5,
}

H11_ASYNCIO = ("--loop", "asyncio", "--http", "h11")


@dataclass(frozen=True)
class Configuration:
    name: str
    label: str
    kind: str = SERVICE
    collector: str = NO_COLLECTOR
    environment: Mapping[str, str] = field(default_factory=dict)
    sampling: float = 1.0
    # The untraced configuration this one is compared with; None for a baseline.
    baseline: str | None = None
    uvicorn_arguments: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = (ROOT, EXAMPLE)
    # Another app factory around the generated one (benchmarks.provider_variants).
    factory: str | None = None

    @property
    def traced(self) -> bool:
        return self.baseline is not None

    def spans_expected(self, endpoint: str, requests: int) -> float:
        """Spans the receiver should get for `requests` calls; 0 when none can."""
        if not self.traced or self.collector in (COLLECTOR_DOWN, NO_COLLECTOR):
            return 0.0
        return requests * SPANS_PER_REQUEST[(self.kind, endpoint)] * self.sampling


SDK_DISABLED = {"OTEL_SDK_DISABLED": "true"}
SIMPLE = {"SERVICE_SPAN_PROCESSOR": "simple"}


def traced(
    name: str, label: str, baseline: str = "untraced", **options: Any
) -> Configuration:
    """A traced configuration, compared with its untraced `baseline`."""
    return Configuration(name, label, baseline=baseline, **options)


def sampled(percent: int) -> Configuration:
    """Batch over gRPC with parent-based sampling of `percent` of the traces."""
    return traced(
        f"sampled-{percent}pct",
        f"batch, gRPC, {percent}% sampled",
        collector=COLLECTOR_GRPC,
        environment={
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(percent / 100),
        },
        sampling=percent / 100,
    )


UNTRACED = Configuration("untraced", "untraced", environment=SDK_DISABLED)
BATCH_GRPC = traced("batch-grpc", "batch, gRPC, with metrics", collector=COLLECTOR_GRPC)
# What the default's metrics cost: none at all, and no exemplars (a View on
# active_requests, measured once, saved nothing: docs/design-decisions.md).
TRACES_ONLY = traced(
    "traces-only",
    "batch, gRPC, traces only",
    collector=COLLECTOR_GRPC,
    environment={"OTEL_METRICS_EXPORTER": "none"},
)
EXEMPLARS_OFF = traced(
    "exemplars-off",
    "batch, gRPC, metrics, no exemplars",
    collector=COLLECTOR_GRPC,
    environment={"OTEL_METRICS_EXEMPLAR_FILTER": "always_off"},
)
BATCH_HTTP = traced("batch-http", "batch, HTTP", collector=COLLECTOR_HTTP)
SIMPLE_GRPC = traced(
    "simple-grpc", "simple, gRPC", collector=COLLECTOR_GRPC, environment=SIMPLE
)
BATCH_DOWN = traced(
    "batch-grpc-down", "batch, collector down", collector=COLLECTOR_DOWN
)
SIMPLE_DOWN = traced(
    "simple-grpc-down",
    "simple, collector down",
    collector=COLLECTOR_DOWN,
    environment=SIMPLE,
)
SAMPLED_10 = sampled(10)
NOT_EXPORTED = traced(
    "not-exported",
    "spans made, never exported",
    environment={"OTEL_TRACES_EXPORTER": "none"},
)
TUTORIAL_REFERENCE = traced(
    "reference",
    "tutorial's setup (reference)",
    kind=REFERENCE,
    collector=COLLECTOR_GRPC,
)
PAIR_UNTRACED = Configuration(
    "pair-untraced",
    "pair untraced",
    kind=PAIR,
    environment=SDK_DISABLED,
    endpoints=(EXAMPLE,),
)
PAIR_TRACED = traced(
    "pair-batch-grpc",
    "pair, batch, gRPC",
    kind=PAIR,
    collector=COLLECTOR_GRPC,
    baseline="pair-untraced",
    endpoints=(EXAMPLE,),
)

# The steps between untraced and traced, for the cost breakdown: a sampler that
# drops every span (what no sampling ratio removes), and the export path with
# the network left out (the spans are encoded for OTLP, then dropped).
SAMPLED_0 = sampled(0)
ENCODED_NOT_SENT = traced(
    "encoded-not-sent",
    "batch, encoded, never sent",
    factory="benchmarks.provider_variants:create_encode_only_app",
)

# The peers a user would pick instead of the template, on the same routes.
CONTRIB_PEER = traced(
    "contrib",
    "contrib instrumentation, its defaults (peer)",
    kind=CONTRIB,
    collector=COLLECTOR_GRPC,
)
LITE_BOOTSTRAP_PEER = traced(
    "lite-bootstrap",
    "lite-bootstrap (peer)",
    kind=LITE_BOOTSTRAP,
    collector=COLLECTOR_GRPC,
)
LOGFIRE_PEER = traced(
    "logfire",
    "Logfire, OTLP backend setup, with metrics (peer)",
    kind=LOGFIRE,
    collector=COLLECTOR_HTTP,
)

# What uvicorn's access line costs (SERVICE_ACCESS_LOG=false turns it off).
UNTRACED_NO_ACCESS_LOG = Configuration(
    "untraced-no-access-log",
    "untraced, no access log",
    environment={**SDK_DISABLED, "SERVICE_ACCESS_LOG": "false"},
    endpoints=(ROOT,),
)
BATCH_NO_ACCESS_LOG = traced(
    "batch-grpc-no-access-log",
    "batch, gRPC, no access log",
    collector=COLLECTOR_GRPC,
    environment={"SERVICE_ACCESS_LOG": "false"},
    baseline="untraced-no-access-log",
    endpoints=(ROOT,),
)

MAIN = (
    UNTRACED,
    BATCH_GRPC,
    TRACES_ONLY,
    EXEMPLARS_OFF,
    BATCH_HTTP,
    SIMPLE_GRPC,
    BATCH_DOWN,
    SIMPLE_DOWN,
    SAMPLED_10,
    SAMPLED_0,
    NOT_EXPORTED,
    ENCODED_NOT_SENT,
    UNTRACED_NO_ACCESS_LOG,
    BATCH_NO_ACCESS_LOG,
    TUTORIAL_REFERENCE,
    CONTRIB_PEER,
    LITE_BOOTSTRAP_PEER,
    LOGFIRE_PEER,
    PAIR_UNTRACED,
    PAIR_TRACED,
)

# The evidence behind the defaults docs/design-decisions.md chose (uvicorn's
# standard extra, no gzip, no attribute limit, batches of 32), each against the
# same untraced baseline unless it changes the server itself (then against its
# own untraced run). The experiments left as they were (the schedule delay,
# gc.freeze(), the GIL switch interval) keep their figures there, not a row here.
EXPERIMENTS = (
    UNTRACED,
    BATCH_GRPC,
    Configuration(
        "untraced-h11",
        "untraced, asyncio + h11",
        environment=SDK_DISABLED,
        uvicorn_arguments=H11_ASYNCIO,
    ),
    traced(
        "batch-grpc-h11",
        "batch, gRPC, asyncio + h11",
        collector=COLLECTOR_GRPC,
        baseline="untraced-h11",
        uvicorn_arguments=H11_ASYNCIO,
    ),
    NOT_EXPORTED,
    traced(
        "batch-grpc-gzip",
        "batch, gRPC, gzip",
        collector=COLLECTOR_GRPC,
        environment={"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
    ),
    *(
        traced(
            f"batch-grpc-batch-{size}",
            f"batch, gRPC, batches of {size}",
            collector=COLLECTOR_GRPC,
            environment={
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(size),
                # The SDK refuses a batch larger than its queue (2048).
                "OTEL_BSP_MAX_QUEUE_SIZE": str(max(size * 4, 2048)),
            },
        )
        # 32 is the service's default, 512 the SDK's.
        for size in (16, 32, 64, 128, 512, 2048)
    ),
    traced(
        "batch-grpc-attrs-4",
        "batch, gRPC, 4 attributes",
        collector=COLLECTOR_GRPC,
        environment={"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "4"},
    ),
)

SUITES = {"main": MAIN, "experiments": EXPERIMENTS}


def by_name(names: list[str], suite: tuple[Configuration, ...]) -> list[Configuration]:
    """The named configurations, plus every baseline they are compared with."""
    # One name, one configuration: the suites share their common ones.
    known = {
        configuration.name: configuration
        for configuration in (*suite, *MAIN, *EXPERIMENTS)
    }
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    wanted = set(names)
    wanted |= {known[n].baseline for n in names if known[n].baseline is not None}
    return [known[name] for name in known if name in wanted]

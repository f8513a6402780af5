"""How each configuration's service is baked, started on the service core and stopped.

Everything runs through service_harness: a generated project is served as its
README says, imported from its `src`; the reference app and the encode-only
app run the same way from this package. The environment is the harness's
scrubbed one plus the configuration's own, so a variable set in the shell
cannot leak into a run.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.configurations import (
    COLLECTOR_GRPC,
    CONTRIB,
    EXAMPLE,
    LITE_BOOTSTRAP,
    LOGFIRE,
    PAIR,
    REFERENCE,
    ROOT,
    Configuration,
)
from benchmarks.cpu_pinning import SERVICE_CORE, pinned
from benchmarks.span_counter import SpanCounter
from service_harness.environment import tracing_environment
from service_harness.pair import PairOptions, RunningPair
from service_harness.ports import refused_endpoint
from service_harness.projects import (
    TEMPLATE_DIR,
    BakedPair,
    BakedService,
    bake,
    bake_pair,
)
from service_harness.services import App, RunningService, running_service

# The reference and peer apps have no /healthz: each is up when its port
# accepts. They flush their spans at exit, which SIGINT reaches.
PEER_APPS = {
    kind: App(
        kind,
        f"benchmarks.reference_app:{factory}",
        (TEMPLATE_DIR,),
        TEMPLATE_DIR,
        health_check=False,
        stop_signal=signal.SIGINT,
    )
    for kind, factory in (
        (REFERENCE, "create_app"),
        (CONTRIB, "create_contrib_app"),
        (LITE_BOOTSTRAP, "create_lite_bootstrap_app"),
        (LOGFIRE, "create_logfire_app"),
    )
}


@dataclass(frozen=True)
class BakedProjects:
    # The template's default answers (slug `my_service`).
    service: BakedService
    pair: BakedPair | None


def bake_projects(work_dir: Path, with_pair: bool) -> BakedProjects:
    pair = bake_pair(work_dir / "pair") if with_pair else None
    return BakedProjects(bake(work_dir / "service"), pair)


def collector_environment(
    configuration: Configuration, counter: SpanCounter | None
) -> dict[str, str]:
    """Where the configuration's spans and metrics go: the counter's receiver, or
    a closed port (never a collector this machine runs on the default port)."""
    if counter is None:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": refused_endpoint()}
    if configuration.collector == COLLECTOR_GRPC:
        return tracing_environment("grpc", counter.grpc_endpoint)
    return tracing_environment("http/protobuf", counter.http_endpoint)


@dataclass(frozen=True)
class RunningTarget:
    """The services of one configuration, the front one last, and its routes."""

    services: list[RunningService]
    paths: Mapping[str, str]

    @property
    def pids(self) -> list[int]:
        return [service.process.pid for service in self.services]

    def url(self, endpoint: str) -> str:
        return self.services[-1].base_url + self.paths[endpoint]


@contextlib.contextmanager
def running_target(
    configuration: Configuration,
    projects: BakedProjects,
    counter: SpanCounter | None,
    log_dir: Path,
) -> Iterator[RunningTarget]:
    """The configuration's service (or pair) on the service core, up, exporting
    where it should; stopped when the block ends."""
    environment = {
        **collector_environment(configuration, counter),
        **configuration.environment,
    }
    log_dir = log_dir / configuration.name
    prefix = pinned(SERVICE_CORE, [])
    if configuration.kind == PAIR:
        assert projects.pair is not None, "the pair was not baked"
        options = PairOptions(log_dir, env=environment, command_prefix=prefix)
        route = f"/{projects.pair.service_a.slug}"
        with RunningPair(projects.pair, options) as pair:
            yield RunningTarget(pair.services, {EXAMPLE: route})
        return
    slug = projects.service.slug
    app = App.baked(projects.service)
    if configuration.kind in PEER_APPS:
        app = PEER_APPS[configuration.kind]
    elif configuration.factory is not None:
        app = replace(
            app,
            factory=configuration.factory,
            pythonpath=(*app.pythonpath, TEMPLATE_DIR),
        )
    # The benchmark's own apps import or imitate the generated package.
    environment["BENCH_APP_PACKAGE"] = slug
    with running_service(
        app,
        log_dir,
        environment,
        arguments=configuration.uvicorn_arguments,
        prefix=prefix,
    ) as service:
        yield RunningTarget([service], {ROOT: "/", EXAMPLE: f"/{slug}"})

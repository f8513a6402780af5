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
    COLLECTOR_DOWN,
    COLLECTOR_GRPC,
    COLLECTOR_HTTP,
    CONTRIB,
    EXAMPLE,
    LITE_BOOTSTRAP,
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
from service_harness.services import App, RunningService, start_service

STOP_TIMEOUT = 10.0
# The reference and peer apps have no /healthz: each is up when its port accepts.
PEER_APPS = {
    kind: App(
        kind,
        f"benchmarks.reference_app:{factory}",
        (TEMPLATE_DIR,),
        TEMPLATE_DIR,
        health_check=False,
    )
    for kind, factory in (
        (REFERENCE, "create_app"),
        (CONTRIB, "create_contrib_app"),
        (LITE_BOOTSTRAP, "create_lite_bootstrap_app"),
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
    """Where the configuration's spans go: the counter's receiver, or a closed port."""
    if configuration.collector == COLLECTOR_DOWN:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": refused_endpoint()}
    if counter is None:
        return {}
    if configuration.collector == COLLECTOR_GRPC:
        return tracing_environment("grpc", counter.grpc_endpoint)
    if configuration.collector == COLLECTOR_HTTP:
        return tracing_environment("http/protobuf", counter.http_endpoint)
    return {}


@dataclass
class RunningTarget:
    """The services of one configuration, the front one last."""

    services: list[RunningService]
    paths: Mapping[str, str]
    # SIGINT lets a peer app's atexit flush run; uvicorn's SIGTERM
    # path re-raises the signal and skips it.
    stop_signal: int = signal.SIGTERM

    @property
    def pids(self) -> list[int]:
        return [service.process.pid for service in self.services]

    def url(self, endpoint: str) -> str:
        return self.services[-1].base_url + self.paths[endpoint]

    def stop(self) -> None:
        # Front service first, so the downstream still answers its last calls.
        for service in reversed(self.services):
            service.process.stop(STOP_TIMEOUT, self.stop_signal)


@contextlib.contextmanager
def running_target(
    configuration: Configuration,
    projects: BakedProjects,
    counter: SpanCounter | None,
    log_dir: Path,
) -> Iterator[RunningTarget]:
    """The configuration's service (or pair), up, exporting where it should."""
    target = start_target(
        configuration,
        projects,
        {**collector_environment(configuration, counter), **configuration.environment},
        log_dir / configuration.name,
    )
    try:
        yield target
    finally:
        target.stop()


def start_target(
    configuration: Configuration,
    projects: BakedProjects,
    environment: Mapping[str, str],
    log_dir: Path,
) -> RunningTarget:
    """Start the configuration's service (or pair) and wait until it answers."""
    prefix = pinned(SERVICE_CORE, [])
    if configuration.kind == PAIR:
        if projects.pair is None:
            raise RuntimeError("the pair was not baked")
        options = PairOptions(log_dir, env=environment, command_prefix=prefix)
        pair = RunningPair(projects.pair, options)
        pair.start()
        return RunningTarget(pair.services, {EXAMPLE: f"/{pair.service_a.name}"})
    slug = projects.service.slug
    paths = {ROOT: "/", EXAMPLE: f"/{slug}"}
    app = App.baked(projects.service)
    stop_signal = signal.SIGTERM
    if configuration.kind in PEER_APPS:
        app, stop_signal = PEER_APPS[configuration.kind], signal.SIGINT
        environment = {**environment, "BENCH_REFERENCE_SLUG": slug}
    elif configuration.factory is not None:
        app = replace(
            app,
            factory=configuration.factory,
            pythonpath=(*app.pythonpath, TEMPLATE_DIR),
        )
        environment = {**environment, "BENCH_APP_PACKAGE": slug}
    service = start_service(
        app,
        log_dir,
        env=environment,
        arguments=configuration.uvicorn_arguments,
        prefix=prefix,
    )
    return RunningTarget([service], paths, stop_signal)

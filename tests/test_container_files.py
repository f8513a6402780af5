"""The container wiring no linter sees: Dockerfile, lock, compose files, collector,
Prometheus.

hadolint and the compose-spec schema (tests/test_linters.py) check each file on
its own. These tests check what makes them work together: the dependency layer
comes from the lock before any source (the lock itself: tests/test_lock.py);
every compose port answers on loopback only, no downstream URL is a container's
own loopback, the collector has the memory limit its memory_limiter is a share
of, sends traces to Jaeger and metrics to a Prometheus that takes OTLP and keeps
exemplars, and every file names the same pinned images. No container engine
runs here: parsing the files is the check.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from stack_wiring import (
    PROMETHEUS_OTLP_METRICS_PATH,
    component_type,
    enabled_features,
    listen_port,
    metrics_url_to_prometheus,
    promql_blocks,
    promql_names,
    single_flag,
)

from service_harness.matrix import CODE_VARIANTS, combination_id
from service_harness.projects import TEMPLATE_DIR

PORT_ANSWER = 8123
OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
EXACT_VERSION_TAG = re.compile(r":v?\d+\.\d+\.\d+[\w.-]*$")
LOOPBACK_HOSTS = {"localhost", "::1"}
EXAMPLES_DIR = TEMPLATE_DIR / "examples"
PAIR_COMPOSE = EXAMPLES_DIR / "docker-compose.pair.yml"
TEMPLATE_PROJECT = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
IMAGES = (
    "jaegertracing/jaeger",
    "otel/opentelemetry-collector-contrib",
    "prom/prometheus",
)


@pytest.fixture(scope="module", params=CODE_VARIANTS, ids=combination_id)
def baked(request, cookies_session):
    answers = {**request.param, "service_port": PORT_ANSWER}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return request.param["otlp_protocol"], result.project_path


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction; continuations joined, comments out."""
    instructions, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def image_is_pinned(image: str) -> bool:
    return bool(EXACT_VERSION_TAG.search(image))


def published_ports(compose: dict) -> list[str]:
    return [
        str(port)
        for service in compose["services"].values()
        for port in service.get("ports", [])
    ]


@pytest.fixture(scope="module")
def dockerfile(baked):
    _, project_dir = baked
    return dockerfile_instructions((project_dir / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def runtime_stage(dockerfile):
    """The instructions after the last FROM: what the image is made of."""
    last_from = max(i for i, (keyword, _) in enumerate(dockerfile) if keyword == "FROM")
    return dockerfile[last_from:]


@pytest.fixture(scope="module")
def compose(baked):
    _, project_dir = baked
    return yaml.safe_load((project_dir / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def collector_config(baked):
    _, project_dir = baked
    return yaml.safe_load((project_dir / "otel-collector-config.yaml").read_text())


@pytest.fixture(scope="module")
def prometheus_config(baked):
    _, project_dir = baked
    return yaml.safe_load((project_dir / "prometheus.yml").read_text())


@pytest.fixture(scope="module")
def pair() -> dict:
    return yaml.safe_load(PAIR_COMPOSE.read_text())


def stack(which: str, compose: dict, pair: dict) -> dict:
    return compose if which == "project" else pair


def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied(
    dockerfile,
):
    steps = [f"{keyword} {arguments}" for keyword, arguments in dockerfile]
    lock_copy = steps.index("COPY pyproject.toml uv.lock ./")
    (dependencies,) = [
        i for i, step in enumerate(steps) if "--no-install-project" in step
    ]
    source_copy = steps.index("COPY src/ src/")
    (project,) = [i for i, step in enumerate(steps) if "--no-editable" in step]

    assert lock_copy < dependencies < source_copy < project
    for step in (steps[dependencies], steps[project]):
        assert "uv sync --locked --no-dev" in step
        # A cache mount: the downloads stay out of every layer.
        assert step.startswith("RUN --mount=type=cache,target=/root/.cache/uv ")


def test_the_image_holds_the_locked_environment_alone_and_runs_no_installer(
    dockerfile, runtime_stage
):
    build_stage = dockerfile[: dockerfile.index(runtime_stage[0])]
    (uv_install,) = [
        args for keyword, args in build_stage if keyword == "RUN" and "uv==" in args
    ]
    copies = [args for keyword, args in runtime_stage if keyword in ("COPY", "ADD")]
    runs = " ".join(args for keyword, args in runtime_stage if keyword == "RUN")
    environment = " ".join(args for keyword, args in runtime_stage if keyword == "ENV")

    assert re.search(r"--no-cache-dir uv==\d+\.\d+\.\d+$", uv_install), uv_install
    # The same path in both stages: the environment's scripts name it.
    assert copies == ["--from=build /app/.venv /app/.venv"]
    assert "PATH=/app/.venv/bin:$PATH" in environment
    assert "uv" not in runs.split() and "pip" not in runs


def test_both_stages_run_one_pinned_python_release(baked):
    _, project_dir = baked
    dockerfile = (project_dir / "Dockerfile").read_text()
    (image,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)

    assert re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-\w+", image), image
    froms = [
        args
        for keyword, args in dockerfile_instructions(dockerfile)
        if keyword == "FROM"
    ]
    assert all(args.startswith("${PYTHON_IMAGE} AS ") for args in froms)


def test_the_image_runs_as_a_numeric_user_and_group_that_is_not_root(runtime_stage):
    users = [arguments for keyword, arguments in runtime_stage if keyword == "USER"]

    assert users, "no USER: the container would run as root"
    user, group = users[-1].split(":")
    assert user.isdigit() and group.isdigit()
    assert "0" not in (user, group)


def test_the_image_serves_the_port_answer_on_all_interfaces_with_python_m_slug(
    runtime_stage, baked
):
    _, project_dir = baked
    (exposed,) = [args for keyword, args in runtime_stage if keyword == "EXPOSE"]
    environment = " ".join(args for keyword, args in runtime_stage if keyword == "ENV")
    (command,) = [args for keyword, args in runtime_stage if keyword == "CMD"]
    (health,) = [args for keyword, args in runtime_stage if keyword == "HEALTHCHECK"]

    assert exposed == str(PORT_ANSWER)
    assert "SERVICE_HOST=0.0.0.0" in environment
    assert f"SERVICE_PORT={PORT_ANSWER}" in environment
    assert command == f'["python", "-m", "{project_dir.name}"]'
    assert "os.environ['SERVICE_PORT'] + '/healthz'" in health


def test_the_image_runs_python_3_14_on_debian_trixie_in_two_stages(dockerfile):
    (image,) = [args for keyword, args in dockerfile if keyword == "ARG"]
    froms = [args for keyword, args in dockerfile if keyword == "FROM"]

    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.14\.\d+-slim-trixie", image), image
    assert len(froms) == 2


def test_dockerignore_admits_exactly_what_the_dockerfile_copies(dockerfile, baked):
    _, project_dir = baked
    patterns = [
        line
        for line in (project_dir / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    copied = {
        source.rstrip("/")
        for keyword, arguments in dockerfile
        if keyword == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    }

    assert patterns[0] == "*"
    assert {line[1:].rstrip("/") for line in patterns if line.startswith("!")} == copied


def test_every_compose_port_is_published_on_loopback_only(compose, pair):
    ports = published_ports(compose) + published_ports(pair)

    assert ports
    for port in ports:
        assert port.startswith("127.0.0.1:"), port


def test_the_service_is_published_on_its_port_answer(compose, baked):
    _, project_dir = baked
    service = compose["services"][project_dir.name]

    assert service["build"] == "."
    assert service["ports"] == [f"127.0.0.1:{PORT_ANSWER}:{PORT_ANSWER}"]


def test_compose_service_exports_to_the_collector_on_its_protocols_port(compose, baked):
    protocol, project_dir = baked
    environment = compose["services"][project_dir.name]["environment"]

    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        f"http://otel-collector:{OTLP_PORTS[protocol]}"
    )
    assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == protocol
    assert environment["SERVICE_HOST"] == "0.0.0.0"
    assert environment["SERVICE_PORT"] == str(PORT_ANSWER)


def downstream_urls(compose: dict) -> list[str]:
    return [
        service["environment"]["SERVICE_DOWNSTREAM_URL"]
        for service in compose["services"].values()
        if "SERVICE_DOWNSTREAM_URL" in service.get("environment", {})
    ]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def test_no_compose_file_points_the_downstream_at_a_containers_own_loopback(
    compose, pair
):
    urls = downstream_urls(compose) + downstream_urls(pair)

    assert urls
    assert [url for url in urls if is_loopback(url)] == []


@pytest.mark.parametrize(
    ("answer", "in_compose"),
    [
        ("http://localhost:8001", "http://host.docker.internal:8001"),
        ("http://127.0.0.1:9000", "http://host.docker.internal:9000"),
        ("https://payments.internal:8443", "https://payments.internal:8443"),
    ],
)
def test_a_loopback_downstream_answer_becomes_the_docker_host_in_compose(
    cookies_session, answer, in_compose
):
    answers = {"include_downstream_client": True, "downstream_url": answer}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    compose = yaml.safe_load((result.project_path / "docker-compose.yml").read_text())
    service = compose["services"][result.project_path.name]

    assert downstream_urls(compose) == [in_compose]
    assert service["extra_hosts"] == ["host.docker.internal:host-gateway"]


@pytest.mark.parametrize("which", ["project", "pair"])
def test_compose_dependencies_name_defined_services_and_healthy_ones_have_a_check(
    which, compose, pair
):
    services = (compose if which == "project" else pair)["services"]

    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_compose_health_checks_probe_healthz_and_the_backends_health_endpoints(
    compose, baked
):
    _, project_dir = baked
    services = compose["services"]

    service_check = " ".join(services[project_dir.name]["healthcheck"]["test"])
    jaeger_check = " ".join(services["jaeger"]["healthcheck"]["test"])
    prometheus_check = " ".join(services["prometheus"]["healthcheck"]["test"])

    assert f"http://127.0.0.1:{PORT_ANSWER}/healthz" in service_check
    assert "http://127.0.0.1:13133/status" in jaeger_check
    assert "http://127.0.0.1:9090/-/ready" in prometheus_check


def test_compose_mounts_the_collector_config_where_the_collector_reads_it(
    compose, baked
):
    _, project_dir = baked
    collector = compose["services"]["otel-collector"]
    (mount,) = collector["volumes"]
    source, target, _ = mount.split(":")

    assert (project_dir / source).is_file()
    assert f"--config={target}" in collector["command"]


@pytest.mark.parametrize("which", ["project", "pair"])
def test_the_collector_container_has_the_memory_limit_memory_limiter_measures(
    which, compose, pair, collector_config
):
    collector = (compose if which == "project" else pair)["services"]["otel-collector"]
    limiter = collector_config["processors"]["memory_limiter"]

    assert collector["deploy"]["resources"]["limits"]["memory"]
    assert 0 < limiter["spike_limit_percentage"] < limiter["limit_percentage"] < 100


def test_every_image_is_pinned_and_the_same_release_in_every_file(compose, pair):
    manifests = (EXAMPLES_DIR / "k8s").glob("*.yaml")
    k8s_images = [
        container["image"]
        for path in manifests
        for document in yaml.safe_load_all(path.read_text())
        if document["kind"] == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
    ]
    compose_images = [
        service["image"]
        for file in (compose, pair)
        for service in file["services"].values()
        if "image" in service
    ]
    images = k8s_images + compose_images

    assert all(image_is_pinned(image) for image in images), images
    assert {image.split(":")[0] for image in images} == set(IMAGES)
    assert len(set(images)) == len(IMAGES), "one release of each image, everywhere"
    assert any(image.startswith("jaegertracing/jaeger:2.") for image in images)
    assert any(image.startswith("prom/prometheus:v3.") for image in images)


def test_collector_pipelines_use_only_components_it_defines(collector_config):
    pipelines = collector_config["service"]["pipelines"]

    assert {"traces", "metrics"} <= set(pipelines)
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in collector_config[kind], (name, kind, component)
    for extension in collector_config["service"].get("extensions", []):
        assert extension in collector_config["extensions"]


def test_collector_pipelines_limit_memory_first_and_batch(collector_config):
    for pipeline in collector_config["service"]["pipelines"].values():
        assert pipeline["processors"][0] == "memory_limiter"
        assert "batch" in pipeline["processors"]


def test_collector_receives_otlp_on_both_ports_from_other_containers(
    collector_config,
):
    protocols = collector_config["receivers"]["otlp"]["protocols"]

    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


def test_collector_exports_to_jaeger_by_its_compose_name_over_plaintext_otlp(
    collector_config, compose
):
    exporters = collector_config["exporters"]
    (to_jaeger,) = [name for name in exporters if name.split("/")[0] == "otlp_grpc"]

    host = exporters[to_jaeger]["endpoint"].split(":")[0]
    assert host in compose["services"]
    assert exporters[to_jaeger]["endpoint"] == "jaeger:4317"
    assert exporters[to_jaeger]["tls"]["insecure"] is True
    assert "debug" in exporters


def test_each_signal_goes_to_its_own_backend(collector_config):
    pipelines = collector_config["service"]["pipelines"]
    backends = {
        signal: {component_type(name) for name in pipeline["exporters"]} - {"debug"}
        for signal, pipeline in pipelines.items()
    }

    assert backends == {"traces": {"otlp_grpc"}, "metrics": {"otlp_http"}}


def test_the_metrics_pipeline_only_limits_memory_and_batches_so_exemplars_survive(
    collector_config,
):
    """OTLP in and out keeps each point's exemplars; memory_limiter and batch
    pass points through whole. Any other processor must be checked first."""
    metrics = collector_config["service"]["pipelines"]["metrics"]

    assert metrics["receivers"] == ["otlp"]
    assert metrics["processors"] == ["memory_limiter", "batch"]


@pytest.mark.parametrize("which", ["project", "pair"])
def test_collector_sends_metrics_to_prometheus_otlp_receiver_by_name_and_port(
    which, compose, pair, collector_config
):
    services = stack(which, compose, pair)["services"]
    url = urlsplit(metrics_url_to_prometheus(collector_config))
    prometheus = services[url.hostname]

    assert url.hostname == "prometheus"
    assert url.scheme == "http"
    assert prometheus["image"].startswith("prom/prometheus:")
    assert url.port == listen_port(prometheus["command"])
    assert url.path == PROMETHEUS_OTLP_METRICS_PATH
    assert services["otel-collector"]["depends_on"]["prometheus"] == {
        "condition": "service_healthy"
    }


@pytest.mark.parametrize("which", ["project", "pair"])
def test_compose_prometheus_takes_otlp_and_keeps_exemplars(which, compose, pair):
    command = stack(which, compose, pair)["services"]["prometheus"]["command"]

    assert "--web.enable-otlp-receiver" in command
    assert "exemplar-storage" in enabled_features(command)


@pytest.mark.parametrize("which", ["project", "pair"])
def test_compose_publishes_prometheus_on_its_listen_port(which, compose, pair):
    prometheus = stack(which, compose, pair)["services"]["prometheus"]
    port = listen_port(prometheus["command"])

    assert prometheus["ports"] == [f"127.0.0.1:{port}:{port}"]


@pytest.mark.parametrize("which", ["project", "pair"])
def test_compose_mounts_prometheus_config_and_storage_where_its_flags_read_them(
    which, compose, pair, baked
):
    _, project_dir = baked
    file = stack(which, compose, pair)
    prometheus = file["services"]["prometheus"]
    config_mount, data_mount = prometheus["volumes"]
    source, target, mode = config_mount.split(":")
    volume, data_target = data_mount.split(":")

    if which == "project":
        assert (project_dir / source).is_file()
    else:
        assert Path(source).parts[:2] == ("service_b", "prometheus.yml")
        assert (TEMPLATE_PROJECT / Path(source).name).is_file()
    assert mode == "ro"
    assert single_flag(prometheus["command"], "config.file") == target
    assert single_flag(prometheus["command"], "storage.tsdb.path") == data_target
    assert volume in file["volumes"]


def test_prometheus_keeps_a_bounded_history(prometheus_config):
    retention = prometheus_config["storage"]["tsdb"]["retention"]

    assert re.fullmatch(r"\d+[hd]", retention["time"]), retention
    assert re.fullmatch(r"\d+[MG]B", retention["size"]), retention
    assert prometheus_config["storage"]["exemplars"]["max_exemplars"] > 0


def test_prometheus_names_otlp_metrics_the_way_the_readme_queries_them(
    prometheus_config, baked
):
    _, project_dir = baked
    otlp = prometheus_config["otlp"]
    section = readme_section(project_dir, "## From a slow request to its trace")
    (query,) = promql_blocks(section)

    named = promql_names(query)

    # Under this strategy dots become underscores and a histogram in seconds
    # gets _seconds; the README was written for it.
    assert otlp["translation_strategy"] == "UnderscoreEscapingWithSuffixes"
    assert named == {
        "errors": [],
        "metrics": ["http_server_request_duration_seconds_bucket"],
        "groupingLabels": ["le", "http_route"],
        "functions": ["histogram_quantile", "sum", "rate"],
    }
    assert f"query_exemplars?query={named['metrics'][0]}" in section


def test_prometheus_promotes_no_attribute_that_is_already_job_or_instance(
    prometheus_config,
):
    promoted = set(prometheus_config["otlp"]["promote_resource_attributes"])

    # Prometheus makes service.name the job label and service.instance.id the
    # instance label of every series it takes over OTLP.
    assert promoted
    assert not {"service.name", "service.namespace", "service.instance.id"} & promoted


def test_the_promql_check_reports_a_malformed_query():
    named = promql_names("sum by (le (rate(http_requests_total[5m])")

    assert named["errors"]
    assert named["metrics"] == ["http_requests_total"]


def test_the_readme_links_the_ports_compose_publishes(compose, baked):
    _, project_dir = baked
    section = readme_section(project_dir, "## From a slow request to its trace")
    published = {
        name: int(service["ports"][0].split(":")[1])
        for name, service in compose["services"].items()
        if name in ("jaeger", "prometheus")
    }

    assert f"http://127.0.0.1:{published['prometheus']}/query" in section
    assert (
        f"http://127.0.0.1:{published['prometheus']}/api/v1/query_exemplars" in section
    )
    assert f"http://127.0.0.1:{published['jaeger']}/trace/" in section


def readme_section(project_dir: Path, heading: str) -> str:
    text = (project_dir / "README.md").read_text()
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


# The tutorial's pair in containers: examples/docker-compose.pair.yml.


def example_answers(name: str) -> dict:
    return yaml.safe_load((EXAMPLES_DIR / f"{name}.yaml").read_text())[
        "default_context"
    ]


def test_pair_compose_builds_both_baked_services(pair):
    services = pair["services"]

    assert services["service-a"]["build"] == "./service_a"
    assert services["service-b"]["build"] == "./service_b"


def test_pair_compose_sends_both_services_to_one_collector_on_their_answers_port(
    pair,
):
    services = pair["services"]

    for compose_name, slug in (("service-a", "service_a"), ("service-b", "service_b")):
        answers = example_answers(slug)
        environment = services[compose_name]["environment"]
        port = OTLP_PORTS[answers["otlp_protocol"]]
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
            f"http://otel-collector:{port}"
        )
        assert environment["SERVICE_PORT"] == str(answers["service_port"])
        assert environment["OTEL_SERVICE_NAME"] == slug


def test_pair_compose_points_service_a_at_service_b_by_its_compose_name(pair):
    services = pair["services"]
    downstream = services["service-a"]["environment"]["SERVICE_DOWNSTREAM_URL"]
    service_b_port = example_answers("service_b")["service_port"]

    assert downstream == f"http://service-b:{service_b_port}"
    assert services["service-a"]["depends_on"]["service-b"] == {
        "condition": "service_healthy"
    }


def test_pair_compose_mounts_a_collector_config_the_template_generates(pair):
    (mount,) = pair["services"]["otel-collector"]["volumes"]
    source = Path(mount.split(":")[0])

    assert source.parts[0] == "service_b"
    template_file = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / source.name
    assert template_file.is_file()

"""The generated Dockerfile, compose file and collector config, read as data.

Docker cannot run where these tests run, so each file is parsed and checked for
what would break a `docker compose up`: unpinned images, a root user, a health
check or port that does not match the answers, a service pointed at the wrong
collector port, a pipeline naming a component it never defines.
"""

import re
from pathlib import Path

import pytest
import yaml

from baking import PROTOCOLS, TEMPLATE_DIR

PORT_ANSWER = 8123
OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
EXACT_VERSION_TAG = re.compile(r":v?\d+\.\d+\.\d+[\w.-]*$")
ROOT_USERS = {"root", "0"}


@pytest.fixture(scope="module", params=PROTOCOLS)
def baked(request, cookies_session):
    answers = {"otlp_protocol": request.param, "service_port": PORT_ANSWER}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return request.param, result.project_path


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


def base_images(instructions: list[tuple[str, str]]) -> list[str]:
    """Every FROM image, with ARG defaults substituted and earlier stages left out."""
    defaults, stages, images = {}, set(), []
    for keyword, arguments in instructions:
        if keyword == "ARG" and "=" in arguments and not stages:
            name, _, value = arguments.partition("=")
            defaults[name] = value
        elif keyword == "FROM":
            image, *alias = re.split(r"\s+AS\s+", arguments, flags=re.IGNORECASE)
            image = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image)
            if image not in stages:
                images.append(image)
            stages.update(name.strip() for name in alias)
    return images


def image_is_pinned(image: str) -> bool:
    return bool(EXACT_VERSION_TAG.search(image)) and not image.endswith(":latest")


@pytest.fixture(scope="module")
def dockerfile(baked):
    _, project_dir = baked
    return dockerfile_instructions((project_dir / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose(baked):
    _, project_dir = baked
    return yaml.safe_load((project_dir / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def collector_config(baked):
    _, project_dir = baked
    return yaml.safe_load((project_dir / "otel-collector-config.yaml").read_text())


def test_dockerfile_builds_a_wheel_then_installs_it_in_a_second_stage(dockerfile):
    runs = [arguments for keyword, arguments in dockerfile if keyword == "RUN"]
    stages = [arguments for keyword, arguments in dockerfile if keyword == "FROM"]

    assert len(stages) == 2
    assert any("pip wheel" in run for run in runs)
    assert any("--no-index" in run and "/wheels" in run for run in runs)
    assert ("COPY", "--from=build /wheels /wheels") in dockerfile


def test_dockerfile_base_images_are_slim_python_pinned_to_a_release(dockerfile):
    images = base_images(dockerfile)

    assert images, "no FROM image"
    for image in images:
        assert image.startswith("python:") and "-slim" in image, image
        assert image_is_pinned(image), image


def test_dockerfile_runs_as_a_user_that_is_not_root(dockerfile):
    users = [arguments for keyword, arguments in dockerfile if keyword == "USER"]
    keywords = [keyword for keyword, _ in dockerfile]

    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ROOT_USERS
    assert keywords.index("USER") > max(
        i for i, keyword in enumerate(keywords) if keyword == "FROM"
    )


def test_dockerfile_health_check_calls_healthz_with_python(dockerfile):
    (check,) = [
        arguments for keyword, arguments in dockerfile if keyword == "HEALTHCHECK"
    ]

    assert "/healthz" in check
    assert "urllib.request" in check
    assert "curl" not in check


def test_dockerfile_exposes_the_port_answer_and_serves_on_all_interfaces(
    dockerfile, baked
):
    _, project_dir = baked
    (exposed,) = [arguments for keyword, arguments in dockerfile if keyword == "EXPOSE"]
    environment = " ".join(
        arguments for keyword, arguments in dockerfile if keyword == "ENV"
    )
    (command,) = [arguments for keyword, arguments in dockerfile if keyword == "CMD"]

    assert exposed == str(PORT_ANSWER)
    assert "SERVICE_HOST=0.0.0.0" in environment
    assert f"SERVICE_PORT={PORT_ANSWER}" in environment
    assert command == f'["python", "-m", "{project_dir.name}"]'


def test_dockerignore_keeps_environments_and_secrets_out_of_the_image(baked):
    _, project_dir = baked
    ignored = (project_dir / ".dockerignore").read_text().split()

    assert {".venv", ".git", ".env"} <= set(ignored)
    assert "src" not in ignored and "pyproject.toml" not in ignored


def test_compose_images_are_pinned_and_the_service_is_built_here(compose, baked):
    _, project_dir = baked
    services = compose["services"]

    assert set(services) == {project_dir.name, "otel-collector", "jaeger"}
    assert services[project_dir.name]["build"] == "."
    for name, service in services.items():
        if "image" in service:
            assert image_is_pinned(service["image"]), (name, service["image"])
        else:
            assert "build" in service, name


def test_compose_publishes_the_service_port_the_ui_and_the_otlp_ports(compose, baked):
    _, project_dir = baked
    services = compose["services"]

    def published(name: str) -> set[str]:
        return {str(port).split(":")[0] for port in services[name].get("ports", [])}

    assert published(project_dir.name) == {str(PORT_ANSWER)}
    assert "16686" in published("jaeger")
    assert {"4317", "4318"} <= published("otel-collector")


def test_compose_dependencies_name_defined_services_and_healthy_ones_have_a_check(
    compose,
):
    services = compose["services"]

    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_compose_health_checks_probe_healthz_and_jaegers_admin_port(compose, baked):
    _, project_dir = baked
    services = compose["services"]

    service_check = " ".join(services[project_dir.name]["healthcheck"]["test"])
    jaeger_check = " ".join(services["jaeger"]["healthcheck"]["test"])

    assert f"http://127.0.0.1:{PORT_ANSWER}/healthz" in service_check
    assert ":14269/" in jaeger_check


def test_compose_service_exports_to_the_collector_on_its_protocols_port(compose, baked):
    protocol, project_dir = baked
    environment = compose["services"][project_dir.name]["environment"]

    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        f"http://otel-collector:{OTLP_PORTS[protocol]}"
    )
    assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == protocol
    assert environment["SERVICE_HOST"] == "0.0.0.0"
    assert environment["SERVICE_PORT"] == str(PORT_ANSWER)


def test_compose_mounts_the_collector_config_where_the_collector_reads_it(
    compose, baked
):
    _, project_dir = baked
    collector = compose["services"]["otel-collector"]
    (mount,) = collector["volumes"]
    source, target, _ = mount.split(":")

    assert (project_dir / source).is_file()
    assert f"--config={target}" in collector["command"]


def test_collector_pipelines_use_only_components_it_defines(collector_config):
    pipelines = collector_config["service"]["pipelines"]

    assert "traces" in pipelines
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


def test_collector_exports_to_jaeger_over_plaintext_otlp_and_to_debug(
    collector_config, compose
):
    exporters = collector_config["exporters"]
    (to_jaeger,) = [name for name in exporters if name.split("/")[0] == "otlp"]

    host = exporters[to_jaeger]["endpoint"].split(":")[0]
    assert host in compose["services"]
    assert exporters[to_jaeger]["endpoint"] == "jaeger:4317"
    assert exporters[to_jaeger]["tls"]["insecure"] is True
    assert "debug" in exporters


# The tutorial's pair in containers: examples/docker-compose.pair.yml.

EXAMPLES_DIR = TEMPLATE_DIR / "examples"


def example_answers(name: str) -> dict:
    return yaml.safe_load((EXAMPLES_DIR / f"{name}.yaml").read_text())[
        "default_context"
    ]


@pytest.fixture(scope="module")
def pair() -> dict:
    return yaml.safe_load((EXAMPLES_DIR / "docker-compose.pair.yml").read_text())


def test_pair_compose_builds_both_baked_services_and_pins_every_image(pair):
    services = pair["services"]

    assert services["service-a"]["build"] == "./service_a"
    assert services["service-b"]["build"] == "./service_b"
    for name, service in services.items():
        if "image" in service:
            assert image_is_pinned(service["image"]), (name, service["image"])


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
    assert "healthcheck" in services["service-b"]


def test_pair_compose_dependencies_name_defined_services(pair):
    services = pair["services"]

    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_pair_compose_mounts_a_collector_config_the_template_generates(pair):
    (mount,) = pair["services"]["otel-collector"]["volumes"]
    source = Path(mount.split(":")[0])

    assert source.parts[0] == "service_b"
    template_file = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / source.name
    assert template_file.is_file()

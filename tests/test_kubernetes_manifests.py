"""The generated deploy/k8s manifests, parsed: kinds, labels, probes, ports, env."""

import re

import pytest
import yaml

from baking import PROTOCOLS

PORT_ANSWER = 8123
OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.fixture(scope="module", params=PROTOCOLS)
def baked(request, cookies_session):
    answers = {"otlp_protocol": request.param, "service_port": PORT_ANSWER}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return request.param, result.project_path


def documents(path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def deployment(baked):
    _, project_dir = baked
    (document,) = documents(project_dir / "deploy" / "k8s" / "deployment.yaml")
    return document


@pytest.fixture(scope="module")
def service(baked):
    _, project_dir = baked
    (document,) = documents(project_dir / "deploy" / "k8s" / "service.yaml")
    return document


@pytest.fixture(scope="module")
def container(deployment):
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(container) -> list[dict]:
    return container["env"]


def env_value(container, name: str) -> str:
    (entry,) = [entry for entry in env_of(container) if entry["name"] == name]
    return entry["value"]


def field_path(container, name: str) -> str:
    (entry,) = [entry for entry in env_of(container) if entry["name"] == name]
    return entry["valueFrom"]["fieldRef"]["fieldPath"]


def test_manifests_are_a_deployment_and_a_service_with_valid_names(deployment, service):
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
    for document in (deployment, service):
        assert DNS_LABEL.fullmatch(document["metadata"]["name"])


def test_deployment_selector_matches_its_pods_and_the_services_selector(
    deployment, service
):
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_container_port_and_service_port_are_the_port_answer(container, service):
    (container_port,) = container["ports"]
    (service_port,) = service["spec"]["ports"]

    assert container_port["containerPort"] == PORT_ANSWER
    assert service_port["port"] == PORT_ANSWER
    assert service_port["targetPort"] == container_port["name"]


def test_probes_call_healthz_on_the_container_port(container):
    port_name = container["ports"][0]["name"]

    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port_name}


def test_container_declares_resources_and_runs_as_the_images_user(
    deployment, container, baked
):
    _, project_dir = baked
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    dockerfile = (project_dir / "Dockerfile").read_text()
    (image_user,) = re.findall(r"^USER (\d+)$", dockerfile, flags=re.MULTILINE)

    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    assert pod_security == {"runAsNonRoot": True, "runAsUser": int(image_user)}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_spans_go_to_the_node_local_agent_on_the_protocols_port(container, baked):
    protocol, _ = baked

    assert field_path(container, "HOST_IP") == "status.hostIP"
    assert env_value(container, "OTEL_EXPORTER_OTLP_ENDPOINT") == (
        f"http://$(HOST_IP):{OTLP_PORTS[protocol]}"
    )
    assert env_value(container, "OTEL_EXPORTER_OTLP_PROTOCOL") == protocol


def test_resource_attributes_name_the_pod_and_namespace_from_the_downward_api(
    container, baked
):
    _, project_dir = baked
    attributes = dict(
        pair.split("=")
        for pair in env_value(container, "OTEL_RESOURCE_ATTRIBUTES").split(",")
    )

    assert attributes["k8s.pod.name"] == "$(POD_NAME)"
    assert attributes["k8s.namespace.name"] == "$(POD_NAMESPACE)"
    assert field_path(container, "POD_NAME") == "metadata.name"
    assert field_path(container, "POD_NAMESPACE") == "metadata.namespace"
    assert env_value(container, "OTEL_SERVICE_NAME") == project_dir.name


def test_every_variable_reference_is_defined_earlier_in_the_list(container):
    """Kubernetes expands $(NAME) only from variables listed before it."""
    defined: set[str] = set()
    for entry in env_of(container):
        for reference in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
            assert reference in defined, f"{entry['name']} uses $({reference}) early"
        defined.add(entry["name"])


def test_the_service_listens_on_all_interfaces_in_the_pod(container):
    assert env_value(container, "SERVICE_HOST") == "0.0.0.0"
    assert env_value(container, "SERVICE_PORT") == str(PORT_ANSWER)

"""The Kubernetes wiring no linter sees, in deploy/k8s and examples/k8s.

kubernetes-validate --strict (tests/test_linters.py) checks each manifest against
the API's schema. These tests check what makes the manifests work together:
service_a finds service_b by its Service name, every service's exporter reaches
the collector examples/k8s ships and that collector reaches Jaeger with traces
and Prometheus (OTLP receiver and exemplar storage on) with metrics, every pod
passes the Pod Security "restricted" profile, and the shutdown numbers add up.
No cluster runs here: parsing the manifests is the check.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from stack_wiring import (
    PROMETHEUS_OTLP_METRICS_PATH,
    enabled_features,
    listen_port,
    metrics_url_to_prometheus,
    promql_blocks,
    promql_names,
    single_flag,
)

from service_harness.matrix import PROTOCOLS
from service_harness.projects import TEMPLATE_DIR

PORT_ANSWER = 8123
OTLP_PORTS = {"grpc": 4317, "http/protobuf": 4318}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
EXAMPLES_DIR = TEMPLATE_DIR / "examples"
EXAMPLE_MANIFESTS = EXAMPLES_DIR / "k8s"
KUBERNETES_GUIDE = TEMPLATE_DIR / "docs" / "kubernetes.md"
COLLECTOR_CONFIG = (
    TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "otel-collector-config.yaml"
)
PROMETHEUS_CONFIG = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "prometheus.yml"
# Kubernetes quantities and Prometheus sizes alike: powers of 2.
BINARY_UNITS = {"Ki": 1, "Mi": 2, "Gi": 3, "KB": 1, "MB": 2, "GB": 3}
# Pod Security "restricted": the volume types it admits.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resources(paths) -> dict[tuple[str, str], dict]:
    """{(kind, name): document} over every document of the given files."""
    return {
        (doc["kind"], doc["metadata"]["name"]): doc
        for path in paths
        for doc in documents(path)
    }


@pytest.fixture(scope="module", params=PROTOCOLS)
def baked(request, cookies_session):
    answers = {
        "otlp_protocol": request.param,
        "service_port": PORT_ANSWER,
        "include_downstream_client": True,
    }
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return request.param, result.project_path


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


@pytest.fixture(scope="module")
def examples() -> dict[tuple[str, str], dict]:
    return resources(sorted(EXAMPLE_MANIFESTS.glob("*.yaml")))


@pytest.fixture(scope="module")
def collector_config(examples) -> dict:
    """The config the examples' collector runs, from its ConfigMap."""
    config_map = examples[("ConfigMap", "otel-collector")]
    return yaml.safe_load(config_map["data"]["config.yaml"])


@pytest.fixture(scope="module")
def pair(cookies_session) -> dict[str, dict[tuple[str, str], dict]]:
    """The tutorial's two projects, baked from examples/, by slug: their manifests."""
    baked = {}
    for slug in ("service_a", "service_b"):
        answers = yaml.safe_load((EXAMPLES_DIR / f"{slug}.yaml").read_text())
        result = cookies_session.bake(extra_context=answers["default_context"])
        assert result.exit_code == 0, result.exception
        baked[slug] = resources(
            sorted((result.project_path / "deploy" / "k8s").glob("*"))
        )
    return baked


def env_value(container, name: str) -> str:
    (entry,) = [entry for entry in container["env"] if entry["name"] == name]
    return entry["value"]


def field_path(container, name: str) -> str:
    (entry,) = [entry for entry in container["env"] if entry["name"] == name]
    return entry["valueFrom"]["fieldRef"]["fieldPath"]


def service_ports(service: dict) -> set[int]:
    return {port["port"] for port in service["spec"]["ports"]}


def restricted_violations(pod: dict) -> list[str]:
    """What the Pod Security "restricted" profile would refuse in this pod spec."""
    violations = []
    pod_security = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            violations.append(flag)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            violations.append(f"volume {volume['name']}: {kinds}")
    for container in pod["containers"] + pod.get("initContainers", []):
        security = container.get("securityContext", {})
        effective = {**pod_security, **security}
        name = container["name"]
        if security.get("privileged"):
            violations.append(f"{name}: privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            violations.append(f"{name}: allowPrivilegeEscalation not false")
        if effective.get("runAsNonRoot") is not True:
            violations.append(f"{name}: runAsNonRoot not true")
        if effective.get("runAsUser") == 0:
            violations.append(f"{name}: runAsUser 0")
        seccomp = effective.get("seccompProfile", {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            violations.append(f"{name}: seccompProfile {seccomp}")
        capabilities = security.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            violations.append(f"{name}: capabilities not dropped")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            violations.append(f"{name}: capabilities added")
        if any("hostPort" in port for port in container.get("ports", [])):
            violations.append(f"{name}: hostPort")
    return violations


def test_names_are_the_slug_as_a_dns_label(deployment, service):
    for document in (deployment, service):
        assert document["metadata"]["name"] == "my-service"
        assert DNS_LABEL.fullmatch(document["metadata"]["name"])


def test_deployment_selector_matches_its_pods_and_the_services_selector(
    deployment, service
):
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_the_service_forwards_port_80_to_the_containers_port_answer(container, service):
    (container_port,) = container["ports"]
    (service_port,) = service["spec"]["ports"]

    assert container_port["containerPort"] == PORT_ANSWER
    assert env_value(container, "SERVICE_PORT") == str(PORT_ANSWER)
    assert env_value(container, "SERVICE_HOST") == "0.0.0.0"
    assert service_port["port"] == 80
    assert service_port["targetPort"] == container_port["name"]


def test_probes_call_healthz_on_the_container_port(container):
    port_name = container["ports"][0]["name"]

    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port_name}


def test_every_deployment_meets_the_restricted_pod_security_profile(
    deployment, examples
):
    deployments = [deployment] + [
        doc for (kind, _), doc in examples.items() if kind == "Deployment"
    ]

    assert len(deployments) == 4
    for document in deployments:
        pod = document["spec"]["template"]["spec"]
        assert restricted_violations(pod) == [], document["metadata"]["name"]


def test_the_restricted_check_refuses_what_the_profile_refuses():
    pod = {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}

    assert restricted_violations(pod) == [
        "c: privileged",
        "c: allowPrivilegeEscalation not false",
        "c: runAsNonRoot not true",
        "c: seccompProfile None",
        "c: capabilities not dropped",
    ]


def test_pods_run_as_the_images_numeric_user_and_group(deployment, baked):
    _, project_dir = baked
    dockerfile = (project_dir / "Dockerfile").read_text()
    (image_user,) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, flags=re.MULTILINE)
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]

    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == tuple(
        map(int, image_user)
    )


def test_pods_get_no_service_account_token_and_no_service_links(deployment, examples):
    deployments = [deployment] + [
        doc for (kind, _), doc in examples.items() if kind == "Deployment"
    ]

    for document in deployments:
        pod = document["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False


def test_grace_period_covers_the_prestop_pause_and_the_last_spans_flush(
    deployment, container
):
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    flush = float(env_value(container, "SERVICE_SHUTDOWN_TIMEOUT"))
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

    assert pause >= 5
    # Room beyond the two for the requests still in flight when uvicorn stops.
    assert grace >= pause + flush + 5


def test_spans_go_to_the_collector_service_examples_ship_on_the_protocols_port(
    container, baked, examples, collector_config
):
    protocol, _ = baked
    endpoint = urlsplit(env_value(container, "OTEL_EXPORTER_OTLP_ENDPOINT"))
    collector = examples[("Service", endpoint.hostname)]
    receivers = collector_config["receivers"]["otlp"]["protocols"]
    receiver = receivers["grpc" if protocol == "grpc" else "http"]

    assert endpoint.scheme == "http"
    assert endpoint.port == OTLP_PORTS[protocol]
    assert endpoint.port in service_ports(collector)
    assert receiver["endpoint"].endswith(f":{endpoint.port}")
    assert env_value(container, "OTEL_EXPORTER_OTLP_PROTOCOL") == protocol
    assert "$(" not in env_value(container, "OTEL_EXPORTER_OTLP_ENDPOINT")


def test_resource_attributes_name_the_pod_uid_node_and_namespace_from_the_downward_api(
    container,
):
    attributes = dict(
        pair.split("=")
        for pair in env_value(container, "OTEL_RESOURCE_ATTRIBUTES").split(",")
    )
    references = {key: value[2:-1] for key, value in attributes.items()}

    assert {key: field_path(container, name) for key, name in references.items()} == {
        "k8s.pod.name": "metadata.name",
        "k8s.pod.uid": "metadata.uid",
        "k8s.namespace.name": "metadata.namespace",
        "k8s.node.name": "spec.nodeName",
    }
    assert env_value(container, "OTEL_SERVICE_NAME") == "my_service"


def test_every_variable_reference_is_defined_earlier_in_the_list(container):
    """Kubernetes expands $(NAME) only from variables listed before it."""
    defined: set[str] = set()
    for entry in container["env"]:
        for reference in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
            assert reference in defined, f"{entry['name']} uses $({reference}) early"
        defined.add(entry["name"])


def test_service_a_reaches_service_b_by_its_service_name_and_port(pair):
    (a_deployment,) = [
        doc for (kind, _), doc in pair["service_a"].items() if kind == "Deployment"
    ]
    (b_service,) = [
        doc for (kind, _), doc in pair["service_b"].items() if kind == "Service"
    ]
    (container,) = a_deployment["spec"]["template"]["spec"]["containers"]
    downstream = urlsplit(env_value(container, "SERVICE_DOWNSTREAM_URL"))

    assert downstream.hostname == b_service["metadata"]["name"] == "service-b"
    assert (downstream.port or 80) in service_ports(b_service)


def test_collector_config_map_is_the_config_every_project_carries(collector_config):
    assert collector_config == yaml.safe_load(COLLECTOR_CONFIG.read_text())


def test_collector_mounts_its_config_map_where_its_args_read_it(examples):
    pod = examples[("Deployment", "otel-collector")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]

    assert volume["configMap"]["name"] == "otel-collector"
    assert f"--config={mount['mountPath']}/config.yaml" in container["args"]


def test_collector_exports_to_the_jaeger_service_examples_ship(
    examples, collector_config
):
    (to_jaeger,) = [
        exporter
        for name, exporter in collector_config["exporters"].items()
        if name.startswith("otlp_grpc/")
    ]
    host, port = to_jaeger["endpoint"].split(":")

    assert int(port) in service_ports(examples[("Service", host)])


def test_collector_has_the_memory_limit_its_memory_limiter_is_a_share_of(
    examples, collector_config
):
    pod = examples[("Deployment", "otel-collector")]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert "memory" in container["resources"]["limits"]
    assert "limit_percentage" in collector_config["processors"]["memory_limiter"]


def test_the_examples_namespace_enforces_the_restricted_profile(examples):
    (namespace,) = [doc for (kind, _), doc in examples.items() if kind == "Namespace"]

    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# The metrics store: examples/k8s/prometheus.yaml.


@pytest.fixture(scope="module")
def prometheus_pod(examples) -> dict:
    return examples[("Deployment", "prometheus")]["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def prometheus_container(prometheus_pod) -> dict:
    (only,) = prometheus_pod["containers"]
    return only


def volume_mounted_at(pod: dict, container: dict, path: str) -> dict:
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return volume


def size_in_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]i|[KMG]B)", quantity).groups()
    return int(number) * 1024 ** BINARY_UNITS[unit]


def test_collector_exports_metrics_to_the_prometheus_service_examples_ship(
    examples, collector_config, prometheus_container
):
    url = urlsplit(metrics_url_to_prometheus(collector_config))
    service = examples[("Service", url.hostname)]
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == url.port]
    (container_port,) = [
        p for p in prometheus_container["ports"] if p["name"] == port["targetPort"]
    ]

    assert url.hostname == "prometheus"
    assert url.scheme == "http"
    assert url.path == PROMETHEUS_OTLP_METRICS_PATH
    assert service["spec"]["selector"].items() <= (
        examples[("Deployment", "prometheus")]["spec"]["template"]["metadata"][
            "labels"
        ].items()
    )
    assert container_port["containerPort"] == listen_port(prometheus_container["args"])


def test_prometheus_takes_otlp_and_keeps_exemplars(prometheus_container):
    arguments = prometheus_container["args"]

    assert prometheus_container["image"].startswith("prom/prometheus:v3.")
    assert "--web.enable-otlp-receiver" in arguments
    assert "exemplar-storage" in enabled_features(arguments)


def test_prometheus_config_map_is_the_config_every_project_carries(examples):
    config_map = examples[("ConfigMap", "prometheus")]
    config = yaml.safe_load(config_map["data"]["prometheus.yml"])

    assert config == yaml.safe_load(PROMETHEUS_CONFIG.read_text())


def test_prometheus_reads_its_config_map_and_writes_to_a_bounded_empty_dir(
    prometheus_pod, prometheus_container
):
    arguments = prometheus_container["args"]
    config_file = Path(single_flag(arguments, "config.file"))
    data_path = single_flag(arguments, "storage.tsdb.path")
    config_volume = volume_mounted_at(
        prometheus_pod, prometheus_container, str(config_file.parent)
    )
    data_volume = volume_mounted_at(prometheus_pod, prometheus_container, data_path)

    assert config_volume["configMap"]["name"] == "prometheus"
    assert config_file.name == "prometheus.yml"
    assert "sizeLimit" in data_volume["emptyDir"]


def test_prometheus_retention_fits_in_its_volume(examples, prometheus_pod):
    config = yaml.safe_load(
        examples[("ConfigMap", "prometheus")]["data"]["prometheus.yml"]
    )
    retention = config["storage"]["tsdb"]["retention"]
    (data_volume,) = [v for v in prometheus_pod["volumes"] if "emptyDir" in v]

    # Blocks up to the retention size, and room beside them for the WAL.
    limit = size_in_bytes(data_volume["emptyDir"]["sizeLimit"])
    assert 0 < size_in_bytes(retention["size"]) <= limit // 2
    assert retention["time"]


def test_prometheus_probes_its_ready_and_healthy_endpoints(prometheus_container):
    (port,) = prometheus_container["ports"]

    assert prometheus_container["readinessProbe"]["httpGet"] == {
        "path": "/-/ready",
        "port": port["name"],
    }
    assert prometheus_container["livenessProbe"]["httpGet"] == {
        "path": "/-/healthy",
        "port": port["name"],
    }
    assert "memory" in prometheus_container["resources"]["limits"]


def test_the_guides_promql_parses_and_groups_the_translated_histogram(examples):
    (query,) = promql_blocks(KUBERNETES_GUIDE.read_text())
    config = yaml.safe_load(
        examples[("ConfigMap", "prometheus")]["data"]["prometheus.yml"]
    )

    named = promql_names(query)

    assert config["otlp"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"
    assert named["errors"] == []
    assert named["metrics"] == ["http_server_request_duration_seconds_bucket"]
    assert named["groupingLabels"] == ["le", "job", "http_route"]

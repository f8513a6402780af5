"""Validate every answer before cookiecutter writes a file.

Each answer reaches this hook through `tojson` (see `main` at the bottom), so a
quote or a brace in an answer is data, never hook code. A rejected answer prints
one line naming the option and the form it expects, and the hook exits 1;
cookiecutter then removes the half-made project directory.
"""

import json
import keyword
import re
import sys
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
PROTOCOLS = ("grpc", "http/protobuf")
SPAN_PROCESSORS = ("batch", "simple")
# A slug must not shadow a module the service or its tests import, nor take the
# name of a package in its uv.lock (uv cannot read a lock holding two packages
# of one name). tests/test_lock.py checks that every locked name is here.
DEPENDENCY_NAMES = frozenset(
    {
        "annotated_doc",
        "annotated_types",
        "anyio",
        "ast_serialize",
        "certifi",
        "charset_normalizer",
        "click",
        "colorama",
        "dotenv",
        "fastapi",
        "google",
        "googleapis_common_protos",
        "grpc",
        "grpcio",
        "h11",
        "httpcore",
        "httptools",
        "httpx",
        "idna",
        "iniconfig",
        "librt",
        "mypy",
        "mypy_extensions",
        "opentelemetry",
        "opentelemetry_api",
        "opentelemetry_exporter_http_transport",
        "opentelemetry_exporter_otlp_common",
        "opentelemetry_exporter_otlp_proto_common",
        "opentelemetry_exporter_otlp_proto_grpc",
        "opentelemetry_exporter_otlp_proto_http",
        "opentelemetry_instrumentation",
        "opentelemetry_instrumentation_requests",
        "opentelemetry_proto",
        "opentelemetry_sdk",
        "opentelemetry_semantic_conventions",
        "opentelemetry_util_http",
        "packaging",
        "pathspec",
        "pluggy",
        "protobuf",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pygments",
        "pytest",
        "python_dotenv",
        "pyyaml",
        "requests",
        "ruff",
        "starlette",
        "tests",
        "types_requests",
        "typing_extensions",
        "typing_inspection",
        "urllib3",
        "uvicorn",
        "uvloop",
        "watchfiles",
        "websockets",
        "wrapt",
        "yaml",
    }
)
URL_FORBIDDEN = re.compile(r"[\s\"'\\<>{}|^`]")


def check_project_name(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty name"
    return None


def check_slug(value: object) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        return "must be a lowercase Python identifier such as my_service"
    if keyword.iskeyword(value):
        return "must not be a Python keyword"
    if value in sys.stdlib_module_names or value in DEPENDENCY_NAMES:
        return "must not shadow a standard-library module or a dependency"
    return None


def check_port(value: object) -> str | None:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
        return "must be a whole number from 1 to 65535"
    return None


def check_choice(choices: tuple[str, ...]) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value not in choices:
            return "must be one of " + ", ".join(choices)
        return None

    return check


def check_http_url(value: object) -> str | None:
    expected = "must be an http:// or https:// URL with a host, e.g. http://localhost:4317"
    if not isinstance(value, str) or URL_FORBIDDEN.search(value):
        return expected
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        return expected
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return expected
    if parts.query or parts.fragment or parts.username or parts.password:
        return "must have no query, fragment or credentials"
    return None


def check_collector_base_url(value: object) -> str | None:
    problem = check_http_url(value)
    if problem is None and str(value).rstrip("/").endswith("/v1/traces"):
        return "must be the collector's base URL: the service appends /v1/traces"
    return problem


def check_boolean(value: object) -> str | None:
    if not isinstance(value, bool):
        return "must be true or false"
    return None


def check_downstream_service(value: object) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        return "must be a lowercase identifier such as service_b"
    return None


CHECKS: dict[str, Callable[[object], str | None]] = {
    "project_name": check_project_name,
    "project_slug": check_slug,
    "service_port": check_port,
    "otlp_protocol": check_choice(PROTOCOLS),
    "otlp_endpoint": check_collector_base_url,
    "span_processor": check_choice(SPAN_PROCESSORS),
    "include_downstream_client": check_boolean,
    "downstream_url": check_http_url,
    "downstream_service": check_downstream_service,
}


def find_problems(answers: Mapping[str, object]) -> list[str]:
    """Return one line per rejected answer, empty when every answer is valid."""
    problems = [
        f"{option}: {problem} (got {answers.get(option)!r})"
        for option, check in CHECKS.items()
        if (problem := check(answers.get(option))) is not None
    ]
    if (
        answers.get("include_downstream_client") is True
        and answers.get("downstream_service") == answers.get("project_slug")
    ):
        problems.append(
            "downstream_service: must differ from project_slug, "
            "or the service would call its own route"
        )
    return problems


def main(answers: Mapping[str, object]) -> int:
    problems = find_problems(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


def rendered_answers() -> dict[str, object]:
    """The answers, as cookiecutter rendered them into this file through tojson."""
    return {
        "project_name": json.loads(
            r'''{{ cookiecutter.project_name | tojson }}'''
        ),
        "project_slug": json.loads(
            r'''{{ cookiecutter.project_slug | tojson }}'''
        ),
        "service_port": json.loads(
            r'''{{ cookiecutter.service_port | tojson }}'''
        ),
        "otlp_protocol": json.loads(
            r'''{{ cookiecutter.otlp_protocol | tojson }}'''
        ),
        "otlp_endpoint": json.loads(
            r'''{{ cookiecutter.otlp_endpoint | tojson }}'''
        ),
        "span_processor": json.loads(
            r'''{{ cookiecutter.span_processor | tojson }}'''
        ),
        "include_downstream_client": json.loads(
            r'''{{ cookiecutter.include_downstream_client | tojson }}'''
        ),
        "downstream_url": json.loads(
            r'''{{ cookiecutter.downstream_url | tojson }}'''
        ),
        "downstream_service": json.loads(
            r'''{{ cookiecutter.downstream_service | tojson }}'''
        ),
    }


if __name__ == "__main__":
    sys.exit(main(rendered_answers()))

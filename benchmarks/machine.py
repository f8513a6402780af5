"""What the machine and the software were, so a figure can be read in context."""

from __future__ import annotations

import importlib.util
import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from google.protobuf.internal import api_implementation

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-exporter-otlp-proto-http",
    "grpcio",
    "protobuf",
)
LOAD_CALM = 0.5
LOAD_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    cores: int
    kernel: str
    python: str
    packages: dict[str, str]
    protobuf_backend: str
    uvicorn_stack: str


def describe_machine() -> Machine:
    return Machine(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 1,
        kernel=platform.release(),
        python=platform.python_version(),
        packages={name: _version(name) for name in PACKAGES},
        # The OTLP receiver and exporters need protobuf: it is always there.
        protobuf_backend=api_implementation.Type(),
        uvicorn_stack=uvicorn_stack(),
    )


def uvicorn_stack() -> str:
    """The loop and HTTP parser uvicorn's `auto` picks in this environment."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {http}"


def load_average() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def wait_for_calm(timeout: float) -> float:
    """Poll the load average until it is below LOAD_CALM, at most `timeout` s.

    Returns the last reading; measuring starts either way (the report records
    the reading, so a busy machine is visible rather than hidden).
    """
    deadline = time.monotonic() + timeout
    reading = load_average()
    while reading >= LOAD_CALM and time.monotonic() < deadline:
        print(
            f"load average {reading:.2f} >= {LOAD_CALM}; waiting (up to "
            f"{max(0, deadline - time.monotonic()):.0f} s more)"
        )
        time.sleep(min(LOAD_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        reading = load_average()
    return reading


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"

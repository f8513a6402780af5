"""Docs are code: every command the onboarding doc and both READMEs show is run.

docs/commands.toml lists each command with the test that runs it; the first
tests hold that list and the docs equal. The others run what no other test
runs: the README's bakes, the make targets (dry), the generated README's
console-exporter command, and the onboarding's pair by hand (sections 4 to 6)
block by block as written, with free ports and the changes commands.toml
states. Sample output in the docs is compared loosely: ids, durations, bars,
ports and pids may differ.
"""

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from doc_blocks import doc_commands

from service_harness.environment import scrubbed_environment
from service_harness.health import wait_until, wait_until_up
from service_harness.ports import free_port
from service_harness.processes import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMANDS = tomllib.loads((REPO_ROOT / "docs" / "commands.toml").read_text())
ONBOARDING = REPO_ROOT / "docs" / "onboarding.md"
START_TIMEOUT = 30.0
TRACE_TIMEOUT = 20.0
SHELL_TIMEOUT = 300


def test_every_command_in_the_docs_is_listed_with_the_test_that_runs_it():
    shown = {doc: set(doc_commands(REPO_ROOT / doc)) for doc in COMMANDS}
    listed = {doc: set(commands) for doc, commands in COMMANDS.items()}

    assert set(COMMANDS) == {
        "README.md",
        "docs/onboarding.md",
        "{{cookiecutter.project_slug}}/README.md",
    }
    for doc in COMMANDS:
        assert shown[doc] - listed[doc] == set(), f"{doc}: not in docs/commands.toml"
        assert listed[doc] - shown[doc] == set(), f"{doc}: listed, not shown"


def test_every_test_named_in_the_list_exists():
    named = {
        entry["test"] for commands in COMMANDS.values() for entry in commands.values()
    }
    missing = []
    for node in sorted(named):
        path, name = node.split("::")
        if f"\ndef {name}(" not in (REPO_ROOT / path).read_text():
            missing.append(node)
    assert missing == []


def test_the_make_targets_the_docs_name_run_what_they_say():
    def dry_run(*arguments: str) -> str:
        result = subprocess.run(
            ["make", "-n", *arguments],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert "-m pytest" in dry_run("test")
    assert "-m pair_demo --protocol 'grpc' --processor 'batch'" in dry_run("demo")
    http_simple = dry_run("demo", "PROTOCOL=http/protobuf", "PROCESSOR=simple")
    assert "--protocol 'http/protobuf' --processor 'simple'" in http_simple
    # CONTRIBUTING.md's refresh of the generated lock.
    assert "-m template_lock --upgrade" in dry_run("lock", "LOCK_ARGS=--upgrade")


def run_shell(script: str, cwd: Path, env: dict[str, str] | None = None):
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=scrubbed_environment(env or {}),
        capture_output=True,
        text=True,
        timeout=SHELL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_readme_bakes_run_from_a_local_checkout(tmp_path):
    readme = doc_commands(REPO_ROOT / "README.md")
    cookiecutter = str(Path(sys.executable).parent / "cookiecutter")
    pip = f"{shlex.quote(sys.executable)} -m pip"
    bakes = [
        command.replace("cookiecutter", f"{cookiecutter} --no-input", 1)
        if "--no-input" not in command
        else command.replace("cookiecutter", cookiecutter, 1)
        for command in readme
        if command.startswith("cookiecutter ") and "gh:" not in command
    ]
    script = "\n".join(
        [
            "pip install cookiecutter uv".replace("pip", pip, 1),
            *[bake.replace("examples/", f"{REPO_ROOT}/examples/") for bake in bakes],
            "cd my_service",
        ]
    ).replace("path/to/checkout", str(REPO_ROOT))

    run_shell(script, tmp_path)

    assert len(bakes) == 3
    for slug in ("my_service", "service_a", "service_b"):
        assert (tmp_path / slug / "src" / slug / "app.py").is_file()


def test_the_generated_readme_console_command_prints_the_spans_of_a_call(
    cookies_session, tmp_path
):
    result = cookies_session.bake()
    assert result.exit_code == 0, result.exception
    project = result.project_path
    commands = doc_commands(project / "README.md")
    (console,) = [c for c in commands if c.startswith("OTEL_TRACES_EXPORTER=console")]
    curl = commands[commands.index(console) + 1]
    port = free_port()
    env = {"PYTHONPATH": str(project / "src"), "SERVICE_PORT": str(port)}
    # The README's `uv run python` is the Python the project is installed for.
    line = console.replace(" uv run python ", f" exec {shlex.quote(sys.executable)} ")
    service = ManagedProcess(
        "my_service",
        ["bash", "-c", line],
        tmp_path / "console.log",
        env=scrubbed_environment({"PYTHONUNBUFFERED": "1"}, env),
        cwd=project,
    ).start()
    try:
        wait_until_up(service, port, START_TIMEOUT)
        answer = run_shell(curl.replace(":8000/", f":{port}/"), tmp_path).stdout
        wait_until(service, lambda: '"parent_id"' in service.log_text(), "a span", 10)
    finally:
        service.stop()
    output = service.log_text()

    assert json.loads(answer) == {"message": "Hello from my_service"}
    spans = [json.loads(text) for text in printed_json_objects(output)]
    by_name = {span["name"]: span for span in spans}
    operation, server = by_name["my_service_operation"], by_name["GET /my_service"]
    assert operation["parent_id"] == server["context"]["span_id"], output


def printed_json_objects(output: str) -> Iterator[str]:
    """The console exporter's multi-line JSON objects, among the log lines."""
    current: list[str] = []
    for line in output.splitlines():
        if line == "{":
            current = [line]
        elif current:
            current.append(line)
            if line == "}":
                yield "\n".join(current)
                current = []


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def loose(text: str) -> list[str]:
    """Lines with what changes from run to run replaced: ids, figures, bars."""
    text = re.sub(r"\b[0-9a-f]{16,32}\b", "ID", text)
    text = re.sub(r"\d+\.\d+ ms", "N ms", text)
    text = re.sub(r"[█─#.]{5,}", "BAR", text)
    text = re.sub(r"\b\d{2,5}\b", "N", text)
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_the_pair_by_hand_sections_run_as_written(tmp_path):
    doc = ONBOARDING.read_text()
    by_hand = section(doc, "## 6. Run the pair by hand")
    receiver_block, bake_block, service_a_block, curl_block = [
        block for block in SH_BLOCK_TEXT.findall(by_hand)
    ]
    backend_block = SH_BLOCK_TEXT.findall(section(doc, "## 4. Sending the pair"))[0]
    (sample,) = TEXT_BLOCK.findall(by_hand)
    ports = {name: free_port() for name in ("4317", "4318", "8001", "8000")}
    scratch = tmp_path / "pair"
    site = sysconfig.get_paths()["purelib"]

    def as_run(block: str) -> str:
        for fixed, port in ports.items():
            block = block.replace(f":{fixed}", f":{port}")
            block = block.replace(f"SERVICE_PORT={fixed}", f"SERVICE_PORT={port}")
            block = block.replace(f"-port {fixed}", f"-port {port}")
        block = block.replace("/tmp/pair", str(scratch))
        # Dependencies from the template's environment: pip builds only the pair.
        return block.replace(
            "python3 -m venv .venv",
            "python3 -m venv .venv && echo "
            f'{shlex.quote(site)} > "$(.venv/bin/python -c '
            '\'import sysconfig; print(sysconfig.get_paths()["purelib"])\')"/t.pth',
        )

    fast_batch = {"OTEL_BSP_SCHEDULE_DELAY": "200"}
    with ExitStack() as stack:

        def server(name: str, line: str, env: dict[str, str]) -> ManagedProcess:
            process = ManagedProcess(
                name,
                ["bash", "-c", line],
                tmp_path / f"{name}.log",
                env=scrubbed_environment({"PYTHONUNBUFFERED": "1"}, env),
                cwd=REPO_ROOT,
            ).start()
            stack.callback(stop_shell, process)
            return process

        *setup, receiver_line = as_run(receiver_block).strip().splitlines()
        run_shell("\n".join(setup), REPO_ROOT)
        receiver = server("receiver", f"exec {receiver_line}", {})
        wait_until(receiver, lambda: "listening" in receiver.log_text(), "its line", 10)

        *bake, service_b_line = as_run(bake_block).strip().splitlines()
        run_shell("\n".join(bake), REPO_ROOT)
        service_b = server("service_b", f"cd {scratch} && {service_b_line}", fast_batch)
        wait_until_up(service_b, ports["8001"], START_TIMEOUT)
        service_a = server("service_a", as_run(service_a_block), fast_batch)
        wait_until_up(service_a, ports["8000"], START_TIMEOUT)
        answer = run_shell(as_run(curl_block), tmp_path).stdout
        wait_until(
            receiver,
            lambda: " 5 spans " in receiver.log_text(),
            "a trace",
            TRACE_TIMEOUT,
        )
        stop_shell(service_a)
        stop_shell(service_b)
        first_trace = receiver.log_text()

        # Section 4: the same pair, the receiver standing in for the collector.
        backend = server("backend", as_run(backend_block), fast_batch)
        # The block starts service_b in the background: both must be up.
        wait_until_up(backend, ports["8001"], START_TIMEOUT)
        wait_until_up(backend, ports["8000"], START_TIMEOUT)
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['8000']}/service_a") as r:
            assert r.status == 200
        wait_until(
            receiver,
            lambda: receiver.log_text().count(" 5 spans ") >= 2,
            "a second trace",
            TRACE_TIMEOUT,
        )
        stop_shell(backend)

    assert json.loads(answer) == json.loads(ANSWER.search(by_hand)[1])
    printed = "\n".join(
        line for line in first_trace.splitlines() if not RECEIVER_LOG_LINE.match(line)
    )
    assert loose(printed)[: len(loose(sample))] == loose(sample), printed
    assert "(parent missing)" not in receiver.log_text()
    assert "incomplete?" not in receiver.log_text()


RECEIVER_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ otlp_receiver ")


def stop_shell(process: ManagedProcess) -> None:
    """SIGTERM the services a shell started (a doc's block), then the shell."""
    for pid in process.descendant_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while process.descendant_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.stop()


SH_BLOCK_TEXT = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TEXT_BLOCK = re.compile(r"^```text\n(.*?)^```$", re.MULTILINE | re.DOTALL)
ANSWER = re.compile(r"It answers\n`(\{.*?\})`", re.DOTALL)

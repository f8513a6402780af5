"""Owns the generated project's uv.lock: one Jinja template that bakes, for
every combination of answers, to the lock `uv lock` writes for that project.

The hooks make no network calls, so the lock cannot be resolved at bake time.
`python -m template_lock` (`make lock`) bakes each combination of the answers
that changes the dependencies (protocol x downstream client), runs `uv lock` in
it, and merges the four locks into `{{cookiecutter.project_slug}}/uv.lock`:

- every `[[package]]` block stands behind the answers whose lock has it, and
  a block whose lines differ between answers has those lines behind theirs;
- the project's own package is named after the slug and sorted in among the
  others as uv sorts them, by name, so the baked lock is byte for byte uv's.

Each bake already holds the current lock, so `uv lock` keeps its versions and
moves only what the ranges now exclude; `--upgrade` takes the newest releases
the ranges admit. The command then bakes every combination again from the new
template and fails unless each lock is byte for byte the one uv wrote. (To
start over from a broken template, delete it: the bakes then have no lock.)
"""

from __future__ import annotations

import argparse
import difflib
import heapq
import itertools
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from jinja2 import Environment
from packaging.version import Version

from service_harness.environment import scrubbed_environment
from service_harness.matrix import PROTOCOLS
from service_harness.projects import TEMPLATE_DIR, bake

JINJA = Environment()
LOCK_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "uv.lock"
PACKAGE_HEADER = "\n[[package]]\n"
PROJECT_SOURCE = 'source = { editable = "." }'
# The bakes' slugs put the project's own package first, among and after the
# others, so the check after writing sees each place the epilogue can put it.
COMBINATIONS = [
    ({"otlp_protocol": protocol, "include_downstream_client": client}, slug)
    for (protocol, client), slug in zip(
        itertools.product(PROTOCOLS, (False, True)),
        ("aaa_service", "my_service", "service_z", "zzz_service"),
        strict=True,
    )
]
# The template's variables, as the answers set them.
PRELUDE = """\
{%- set http = cookiecutter.otlp_protocol == "http/protobuf" %}
{%- set client = cookiecutter.include_downstream_client %}
{%- set project = cookiecutter.project_slug | replace("_", "-") -%}"""
COMMENT = """\
{#- Written by `make lock` (template_lock.py): refresh it that way, not by hand.
    It bakes to the uv.lock that `uv lock` writes for the answers' project. Each
    package block stands behind the answers that install it; the project's own
    package, named after the slug, is sorted in among the others by name, as uv
    sorts them. #}"""
# Block texts start `name = "..."`; `"` sorts before every character of a
# normalized name, so comparing whole blocks with this compares the names.
EPILOGUE = """\
{%- set packages = registry_packages.split("[[package]]\\n")[1:] | map("trim") | list %}
{%- set project_key = 'name = "' ~ project ~ '"' %}
{%- set before = packages | select("lt", project_key) | list %}
{%- set after = packages | reject("lt", project_key) | list %}
{%- for package in before + [project_package | trim] + after %}

[[package]]
{{ package }}
{%- endfor %}
"""
# Each answer set that differs in dependencies is one (http, client) pair.
Combo = tuple[bool, bool]
# The conditions a block or a line can stand behind, simplest first.
CONDITIONS = [
    "http",
    "not http",
    "client",
    "not client",
    "http and client",
    "http and not client",
    "not http and client",
    "not http and not client",
    "http or client",
    "http or not client",
    "not http or client",
    "not http or not client",
    "http != client",
    "http == client",
]


def combo(answers: dict) -> Combo:
    http = answers["otlp_protocol"] == "http/protobuf"
    return http, answers["include_downstream_client"]


ALL_COMBOS = frozenset(combo(answers) for answers, _ in COMBINATIONS)


def condition_for(combos: frozenset[Combo]) -> str:
    """The shortest condition true for `combos` only ("" for all of them)."""
    if combos == ALL_COMBOS:
        return ""
    for condition in CONDITIONS:
        test = JINJA.compile_expression(condition)
        if {(h, c) for h, c in ALL_COMBOS if test(http=h, client=c)} == combos:
            return condition
    raise AssertionError(f"no condition for {sorted(combos)}")


def split_lock(text: str) -> tuple[str, list[str]]:
    """(header, [package block, ...]): each block from its `name =` line on."""
    header, *blocks = text.split(PACKAGE_HEADER)
    return header, blocks


def block_name(block: str) -> str:
    return block.split('"', 2)[1]


def block_key(block: str) -> tuple[str, Version]:
    """uv's order of registry packages: by name, then by version."""
    version = block.splitlines()[1]
    assert version.startswith("version = "), block[:200]
    return block_name(block), Version(version.split('"')[1])


def is_sorted(lines: list[tuple[str, set[Combo]]]) -> bool:
    return all(a[0] <= b[0] for a, b in itertools.pairwise(lines))


def merge_lines(variants: dict[Combo, str]) -> list[tuple[str, frozenset[Combo]]]:
    """The lines of every variant in one sequence, each with the variants that
    have it: each variant is exactly its own lines, in order."""
    merged: list[tuple[str, set[Combo]]] = []
    for value, text in variants.items():
        lines = text.split("\n")
        matcher = difflib.SequenceMatcher(
            None, [line for line, _ in merged], lines, autojunk=False
        )
        result: list[tuple[str, set[Combo]]] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                result += [(line, owners | {value}) for line, owners in merged[i1:i2]]
                continue
            ours, theirs = merged[i1:i2], [(line, {value}) for line in lines[j1:j2]]
            if is_sorted(ours) and is_sorted(theirs):
                # Items of a sorted list (dependencies): sorted in the template too.
                result += heapq.merge(ours, theirs, key=lambda item: item[0])
            else:
                result += ours + theirs
        merged = result
    return [(line, frozenset(owners)) for line, owners in merged]


def conditional_lines(lines: Iterable[tuple[str, frozenset[Combo]]]) -> list[str]:
    """Template lines: each run of lines with the same owners behind its
    condition, two complementary runs as one if/else."""
    runs = [
        (owners, [line for line, _ in run])
        for owners, run in itertools.groupby(lines, key=lambda item: item[1])
    ]
    out: list[str] = []
    index = 0
    while index < len(runs):
        owners, run = runs[index]
        condition = condition_for(owners)
        if not condition:
            out += run
            index += 1
            continue
        out += [f"{{%- if {condition} %}}", *run]
        if index + 1 < len(runs) and runs[index + 1][0] == ALL_COMBOS - owners:
            out += ["{%- else %}", *runs[index + 1][1]]
            index += 1
        out.append("{%- endif %}")
        index += 1
    return out


def project_block(block: str, slug: str) -> str:
    name = slug.replace("_", "-")
    first, rest = block.split("\n", 1)
    assert first == f'name = "{name}"', first
    return 'name = "{{ project }}"\n' + rest


def lock_template(locks: dict[Combo, tuple[str, str]]) -> str:
    """The template from each combination's (slug, uv.lock text)."""
    headers: dict[Combo, str] = {}
    projects: dict[Combo, str] = {}
    registry: dict[tuple[str, Version], dict[Combo, str]] = {}
    for value, (slug, text) in locks.items():
        for delimiter in ("{{", "{%", "{#"):
            assert delimiter not in text, f"Jinja's {delimiter} in the lock"
        header, blocks = split_lock(text)
        headers[value] = header.rstrip("\n")
        (project,) = [block for block in blocks if PROJECT_SOURCE in block]
        projects[value] = project_block(project, slug).rstrip("\n")
        for block in blocks:
            if block is not project:
                registry.setdefault(block_key(block), {})[value] = block.rstrip("\n")
    lines = [COMMENT, PRELUDE, *conditional_lines(merge_lines(headers))]
    lines.append("{%- set project_package %}")
    lines += [*conditional_lines(merge_lines(projects)), "{%- endset %}"]
    lines.append("{%- set registry_packages %}")
    registry_lines = [
        line
        for _, variants in sorted(registry.items())
        for line in [
            ("", frozenset(variants)),
            ("[[package]]", frozenset(variants)),
            *merge_lines(variants),
        ]
    ]
    lines += conditional_lines(registry_lines)
    lines.append("{%- endset %}")
    return "\n".join(lines) + "\n" + EPILOGUE


def uv_lock(project_dir: Path, *arguments: str) -> str:
    """uv's lock for the baked project: the baked lock's versions, less what
    `arguments` (`--upgrade`) or the ranges move, written afresh."""
    lock = project_dir / "uv.lock"
    if lock.exists():
        # uv leaves a lock the project satisfies as it is, order and all; one
        # without the project's own package it resolves and writes whole.
        header, blocks = split_lock(lock.read_text())
        kept = [block for block in blocks if PROJECT_SOURCE not in block]
        lock.write_text(PACKAGE_HEADER.join([header, *kept]))
    subprocess.run(
        [sys.executable, "-m", "uv", "--no-config", "lock", "--quiet", *arguments],
        cwd=project_dir,
        # Without uv's own settings (an index, a mirror): the lock names PyPI,
        # the index every team and image reaches.
        env=scrubbed_environment(drop=("UV_",)),
        check=True,
    )
    return lock.read_text()


def baked_project(output_dir: Path, answers: dict, slug: str) -> Path:
    return bake(output_dir, answers={**answers, "project_slug": slug}).project_dir


def write_lock_template(upgrade: bool) -> None:
    arguments = ["--upgrade"] if upgrade else []
    with tempfile.TemporaryDirectory(prefix="template-lock-") as scratch:
        locks = {}
        for answers, slug in COMBINATIONS:
            project_dir = baked_project(Path(scratch) / "uv", answers, slug)
            locks[combo(answers)] = slug, uv_lock(project_dir, *arguments)
            print(f"locked {slug}: {answers}")
        LOCK_TEMPLATE.write_text(lock_template(locks))
        for answers, slug in COMBINATIONS:
            project_dir = baked_project(Path(scratch) / "template", answers, slug)
            if (project_dir / "uv.lock").read_text() != locks[combo(answers)][1]:
                raise SystemExit(
                    f"{LOCK_TEMPLATE} does not bake to uv's lock for {answers}"
                )
    size = LOCK_TEMPLATE.stat().st_size
    print(f"wrote {LOCK_TEMPLATE.relative_to(TEMPLATE_DIR)} ({size:,} bytes)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m template_lock",
        description="Lock every combination of answers with uv and write the "
        "generated project's uv.lock template.",
    )
    parser.add_argument(
        "--upgrade",
        action="store_true",
        help="the newest releases the ranges admit, not the template lock's",
    )
    write_lock_template(parser.parse_args(argv).upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())

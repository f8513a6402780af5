"""The generated uv.lock, and template_lock (`make lock`), which writes its template.

For every combination of answers, and slugs that sort anywhere among the
package names, the baked lock is one `uv lock --check` accepts, offline and
with an empty cache. It resolves for CPython 3.14 on Linux x86_64, the image's,
and every package installed there has a wheel for it, so no image build
compiles. It holds exactly the packages the answers call for, at versions
inside the generated pyproject's ranges, all from PyPI. The template itself is
what `make lock` writes from its own bakes: nobody edited it by hand.
"""

import importlib.util
import re
import subprocess
import sys
import time
import tomllib
from itertools import chain
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

import template_lock
from service_harness.matrix import COMBINATIONS, combination_id

PYPI = {"registry": "https://pypi.org/simple"}
# python:3.14-slim-trixie: CPython 3.14 on glibc 2.41, x86_64.
CPYTHON_314_LINUX = {
    "implementation_name": "cpython",
    "implementation_version": "3.14.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.14.0",
    "python_version": "3.14",
    "sys_platform": "linux",
    "extra": "",
}
GLIBC_X86_64 = [f"manylinux_2_{minor}_x86_64" for minor in range(41, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]
# What pip or uv installs on it: cp314, abi3 (cp32 to cp314) and py3-none wheels.
CPYTHON_314_LINUX_TAGS = frozenset(
    chain(
        cpython_tags((3, 14), abis=["cp314"], platforms=GLIBC_X86_64),
        compatible_tags((3, 14), "cp314", GLIBC_X86_64),
    )
)
# Slugs whose package sorts first, after a shared prefix, right after a
# dependency it starts with, and last.
SLUGS = ["aardvark", "opentelemetry_demo", "pytest_tools", "zebra"]


@pytest.fixture(scope="module", params=COMBINATIONS, ids=combination_id)
def baked(request, cookies_session):
    result = cookies_session.bake(extra_context=request.param)
    assert result.exit_code == 0, result.exception
    return request.param, result.project_path


def read_lock(project_dir: Path) -> dict:
    return tomllib.loads((project_dir / "uv.lock").read_text())


@pytest.fixture(scope="module")
def lock(baked) -> dict:
    """The baked lock, parsed once per combination: tests must not change it."""
    _, project_dir = baked
    return read_lock(project_dir)


def read_pyproject(project_dir: Path) -> dict:
    return tomllib.loads((project_dir / "pyproject.toml").read_text())


def uv_lock_check(project_dir: Path, cache_dir: Path) -> subprocess.CompletedProcess:
    """`uv lock --check`, offline, with an empty cache and no uv settings."""
    return subprocess.run(
        [sys.executable, "-m", "uv", "--no-config", "lock", "--check", "--offline"],
        cwd=project_dir,
        env={
            "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
            "HOME": str(cache_dir),
            "UV_CACHE_DIR": str(cache_dir),
            "UV_PYTHON": sys.executable,
            "UV_PYTHON_DOWNLOADS": "never",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def the_project(lock: dict) -> dict:
    (project,) = [p for p in lock["package"] if p["source"] == {"editable": "."}]
    return project


def installed(lock: dict, environment: dict[str, str] | None) -> list[dict]:
    """The packages `uv sync` installs, the dev group's included, where markers
    hold in `environment` (None: in any environment)."""
    by_name: dict[str, list[dict]] = {}
    for package in lock["package"]:
        by_name.setdefault(package["name"], []).append(package)
    project = the_project(lock)
    pending = [
        *project.get("dependencies", []),
        *chain(*project.get("dev-dependencies", {}).values()),
    ]
    found: dict[tuple[str, str], dict] = {}
    extras_done: set[tuple[str, str, str]] = set()
    while pending:
        dependency = pending.pop()
        marker = dependency.get("marker")
        if environment and marker and not Marker(marker).evaluate(environment):
            continue
        (package,) = [
            p
            for p in by_name[dependency["name"]]
            if dependency.get("version", p["version"]) == p["version"]
        ]
        key = package["name"], package["version"]
        if key not in found:
            found[key] = package
            pending += package.get("dependencies", [])
        for extra in dependency.get("extra", []):
            if (*key, extra) not in extras_done:
                extras_done.add((*key, extra))
                pending += package["optional-dependencies"][extra]
    return list(found.values())


def without_a_wheel_for(packages: list[dict], tags: frozenset[Tag]) -> list[str]:
    return sorted(
        package["name"]
        for package in packages
        if not any(
            tags & parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])[3]
            for wheel in package.get("wheels", [])
        )
    )


def names(packages: list[dict]) -> set[str]:
    return {package["name"] for package in packages}


def test_uv_lock_check_accepts_the_baked_lock_offline(baked, tmp_path, figures):
    _, project_dir = baked

    started = time.perf_counter()
    result = uv_lock_check(project_dir, tmp_path)
    elapsed = time.perf_counter() - started

    assert result.returncode == 0, result.stderr
    figures(f"uv lock --check --offline, empty cache: {elapsed * 1000:.0f} ms")


@pytest.mark.parametrize("slug", SLUGS)
def test_the_projects_package_sorts_among_the_others_as_uv_sorts_them(
    cookies_session, tmp_path, slug
):
    answers = {"project_slug": slug, "include_downstream_client": True}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    lock = read_lock(result.project_path)
    order = [(p["name"], Version(p.get("version", "0"))) for p in lock["package"]]

    assert order == sorted(order)
    assert the_project(lock)["name"] == slug.replace("_", "-")
    assert uv_lock_check(result.project_path, tmp_path).returncode == 0


def test_uv_lock_check_rejects_the_lock_once_a_range_excludes_its_version(
    baked, tmp_path
):
    """The check the other tests rely on can fail. Offline, uv says so by
    trying to resolve again, which needs the network."""
    _, project_dir = baked
    pyproject = project_dir / "pyproject.toml"
    text = pyproject.read_text()
    excluding, count = re.subn(r'"fastapi[^"]*"', '"fastapi<0.1"', text)
    assert count == 1
    pyproject.write_text(excluding)
    try:
        result = uv_lock_check(project_dir, tmp_path)
    finally:
        pyproject.write_text(text)

    assert result.returncode != 0
    assert "the network was disabled" in result.stderr


def test_the_lock_resolves_for_cpython_3_14(lock):
    forks = [Marker(m) for m in lock.get("resolution-markers", [])]

    assert SpecifierSet(lock["requires-python"]).contains("3.14.0")
    assert not forks or [m for m in forks if m.evaluate(CPYTHON_314_LINUX)]


def test_every_package_installed_on_cpython_3_14_linux_has_a_wheel_for_it(lock):
    packages = installed(lock, CPYTHON_314_LINUX)

    assert {"fastapi", "pydantic-core", "uvloop", "httptools"} <= names(packages)
    assert without_a_wheel_for(packages, CPYTHON_314_LINUX_TAGS) == []


def test_a_locked_release_without_a_cpython_3_14_wheel_is_found(baked):
    _, project_dir = baked
    lock = read_lock(project_dir)
    (core,) = [p for p in lock["package"] if p["name"] == "pydantic-core"]
    core["wheels"] = [w for w in core["wheels"] if "-cp313-" in w["url"]]

    packages = installed(lock, CPYTHON_314_LINUX)

    assert core["wheels"]
    assert without_a_wheel_for(packages, CPYTHON_314_LINUX_TAGS) == ["pydantic-core"]


def test_the_lock_holds_only_packages_the_project_installs_somewhere(lock):
    project = the_project(lock)
    registry = [p for p in lock["package"] if p is not project]

    assert names(installed(lock, None)) == names(registry)


def test_no_slug_the_hook_accepts_can_take_a_locked_packages_name(lock):
    """uv cannot read a lock holding two packages of one name, so the pre-gen
    hook refuses every locked name as a slug (its `DEPENDENCY_NAMES`)."""
    hook = Path(__file__).parents[1] / "hooks" / "pre_gen_project.py"
    spec = importlib.util.spec_from_file_location("pre_gen_project", hook)
    pre_gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pre_gen)
    project = the_project(lock)
    locked = {p["name"].replace("-", "_") for p in lock["package"] if p is not project}

    assert locked - pre_gen.DEPENDENCY_NAMES == set()


def test_the_lock_holds_the_protocols_exporter_and_the_clients_packages_only(
    baked, lock
):
    answers, _ = baked
    locked = names(lock["package"])
    grpc = answers["otlp_protocol"] == "grpc"
    client = answers["include_downstream_client"]

    assert ("grpcio" in locked) is grpc
    assert ("opentelemetry-exporter-otlp-proto-grpc" in locked) is grpc
    assert ("opentelemetry-exporter-otlp-proto-http" in locked) is not grpc
    assert ("opentelemetry-instrumentation-requests" in locked) is client
    assert ("types-requests" in locked) is client
    # The HTTP exporter sends with requests too.
    assert ("requests" in locked) is (client or not grpc)


def test_the_locked_versions_are_inside_the_pyprojects_ranges(baked, lock):
    _, project_dir = baked
    pyproject = read_pyproject(project_dir)
    locked = {p["name"]: p.get("version") for p in lock["package"]}
    requirements = [
        Requirement(spec)
        for spec in pyproject["project"]["dependencies"]
        + pyproject["dependency-groups"]["dev"]
    ]

    assert len(requirements) >= 10
    for requirement in requirements:
        version = locked[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (
            requirement,
            version,
        )


def test_every_locked_package_comes_from_pypi(lock):
    sources = {p["name"]: p["source"] for p in lock["package"]}
    sources.pop(the_project(lock)["name"])
    assert {name: s for name, s in sources.items() if s != PYPI} == {}


# template_lock: the merge `make lock` writes, checked without the network.


def render(template: str, answers: dict, slug: str) -> str:
    """As cookiecutter renders a file."""
    environment = StrictEnvironment(keep_trailing_newline=True)
    context = {**answers, "project_slug": slug}
    return environment.from_string(template).render(cookiecutter=context)


def test_the_committed_template_is_what_make_lock_writes_from_its_bakes(
    cookies_session,
):
    locks = {}
    for answers, slug in template_lock.COMBINATIONS:
        result = cookies_session.bake(extra_context={**answers, "project_slug": slug})
        assert result.exit_code == 0, result.exception
        text = (result.project_path / "uv.lock").read_text()
        locks[template_lock.combo(answers)] = slug, text

    assert template_lock.lock_template(locks) == template_lock.LOCK_TEMPLATE.read_text()


HEADER = 'version = 1\nrevision = 5\nrequires-python = ">=3.11"\n'


def package(name: str, version: str, *dependencies: str) -> str:
    listed = "".join(f'    {{ name = "{d}" }},\n' for d in dependencies)
    return (
        f'name = "{name}"\nversion = "{version}"\n'
        f'source = {{ registry = "https://pypi.org/simple" }}\n'
        + (f"dependencies = [\n{listed}]\n" if dependencies else "")
    )


def project(slug: str, *dependencies: str) -> str:
    listed = "".join(f'    {{ name = "{d}" }},\n' for d in dependencies)
    return (
        f'name = "{slug.replace("_", "-")}"\nsource = {{ editable = "." }}\n'
        f"dependencies = [\n{listed}]\n"
    )


def lock_text(*blocks: str) -> str:
    return template_lock.PACKAGE_HEADER.join([HEADER, *blocks])


def test_the_merge_bakes_back_each_lock_it_merged_whatever_differs():
    """Versions that differ by answer, a block whose lines differ, a package
    only some answers have, and a project named anything."""
    locks = {}
    for index, (answers, slug) in enumerate(template_lock.COMBINATIONS):
        client = answers["include_downstream_client"]
        exporter = "grpc-exporter" if answers["otlp_protocol"] == "grpc" else "http"
        blocks = [
            package("base", "1.10.0" if client else "1.9.0", "shared"),
            package(exporter, "2.0", *(["shared"] if index % 2 else [])),
            project(slug, "base", exporter, *(["requests"] if client else [])),
            *([package("requests", "2.32")] if client else []),
            package("shared", "1.0"),
        ]
        blocks.sort(key=template_lock.block_name)
        locks[template_lock.combo(answers)] = slug, lock_text(*blocks)

    template = template_lock.lock_template(locks)

    for answers, slug in template_lock.COMBINATIONS:
        assert render(template, answers, slug) == locks[template_lock.combo(answers)][1]
    other = {"otlp_protocol": "http/protobuf", "include_downstream_client": True}
    text = render(template, other, "my_service")
    assert text.index('name = "http"') < text.index('name = "my-service"')
    assert text.index('name = "my-service"') < text.index('name = "requests"')

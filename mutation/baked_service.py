"""Owns the project under test: service_a baked in a scratch directory, its modules."""

import dataclasses
from pathlib import Path

from service_harness.projects import SERVICE_A_CONFIG
from service_harness.projects import bake as bake_project


@dataclasses.dataclass(frozen=True)
class BakedService:
    root: Path
    package: str

    @property
    def package_dir(self) -> Path:
        return self.root / "src" / self.package

    def modules(self) -> dict[str, Path]:
        """{dotted name inside the package: path from the project root}."""
        return {
            module_name(path.relative_to(self.package_dir)): path.relative_to(self.root)
            for path in sorted(self.package_dir.rglob("*.py"))
        }


def module_name(relative_path: Path) -> str:
    return ".".join(relative_path.with_suffix("").parts)


def bake(work_dir: Path) -> BakedService:
    """`cookiecutter --no-input --config-file examples/service_a.yaml` into work_dir."""
    baked = bake_project(work_dir, SERVICE_A_CONFIG)
    return BakedService(baked.project_dir, baked.slug)


def select_modules(service: BakedService, names: list[str]) -> dict[str, Path]:
    """The named modules (all of them when none is named); an unknown name stops."""
    modules = service.modules()
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise SystemExit(
            f"no module {', '.join(unknown)} in {service.package}; "
            f"its modules: {' '.join(modules)}"
        )
    return {name: modules[name] for name in names} if names else modules

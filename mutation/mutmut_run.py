"""Owns the mutmut 3 run on the baked service: its configuration, the run, the results.

The configuration goes into the bake's own pyproject.toml as `[tool.mutmut]`;
the generated project never carries it. mutmut copies the project to
`mutants/`, where `pythonpath = ["src"]` makes the tests import the mutated
package, and runs each mutant against the tests its stats run saw calling the
mutated function.
"""

import ast
import difflib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from mutation.baked_service import BakedService, module_name
from mutation.message_only import Function, is_message_only
from mutation.mutant import Mutant
from mutation.subprocess_site import HITS_VARIABLE
from service_harness.projects import TEMPLATE_DIR

# A mutant's tests get (their own time + TIMEOUT_CONSTANT) x TIMEOUT_MULTIPLIER
# seconds of wall clock. mutmut times a test's call only, not its teardown (the
# loopback servers take about 0.5 s each to stop), hence the generous constant.
TIMEOUT_MULTIPLIER = 4.0
TIMEOUT_CONSTANT = 10.0
SUBPROCESS_SITE = Path(__file__).resolve().parent / "subprocess_site.py"
CLASS_SEPARATOR = "ǁ"  # mutmut's: xǁClassǁmethod


def configure(service: BakedService, only: list[Path] | None) -> None:
    """Write [tool.mutmut] into the bake, and the subprocess hooks into mutants/."""
    settings = {
        "source_paths": ["src"],
        # mutmut copies tests/ and pyproject.toml; a test may read anything else.
        "also_copy": sorted(
            path.name
            for path in service.root.iterdir()
            if path.name not in ("src", "mutants")
        ),
        # The suite runs gRPC servers, which do not survive a fork: forking from a
        # server process that never ran a test is mutmut's answer.
        "process_isolation": "forkserver",
        "timeout_multiplier": TIMEOUT_MULTIPLIER,
        "timeout_constant": TIMEOUT_CONSTANT,
        "pytest_add_cli_args": ["-p", "mutation.subprocess_hits"],
        "use_git_change_detection": False,
    }
    if only is not None:
        settings["only_mutate"] = [path.as_posix() for path in only]
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    with (service.root / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n[tool.mutmut]\n" + "\n".join(lines) + "\n")
    # mutmut keeps files it finds in mutants/src; the tests' subprocesses import
    # this one at start-up (see subprocess_site.py).
    mutated_src = service.root / "mutants" / "src"
    mutated_src.mkdir(parents=True)
    (mutated_src / "sitecustomize.py").write_text(SUBPROCESS_SITE.read_text())


def run(service: BakedService, max_children: int) -> None:
    mutated_src = service.root / "mutants" / "src"
    environment = {
        **os.environ,
        # `-p mutation.subprocess_hits` imports from the template; a subprocess
        # that inherits this environment imports the mutated package.
        "PYTHONPATH": os.pathsep.join([str(mutated_src), str(TEMPLATE_DIR)]),
        HITS_VARIABLE: str(service.root / "mutants" / "subprocess-hits"),
    }
    mutmut = Path(sys.executable).parent / "mutmut"
    command = [str(mutmut), "run", "--max-children", str(max_children)]
    if subprocess.run(command, cwd=service.root, env=environment).returncode != 0:
        raise SystemExit(f"mutmut failed; its project is {service.root}")


def results(service: BakedService) -> list[Mutant]:
    """Every mutant mutmut made, with its status and whether it is message-only."""
    mutated_package = service.root / "mutants" / "src" / service.package
    return [
        mutant
        for meta in sorted(mutated_package.rglob("*.py.meta"))
        for mutant in module_results(meta, mutated_package)
    ]


def module_results(meta: Path, mutated_package: Path) -> Iterator[Mutant]:
    from mutmut.stats import status_by_exit_code

    source = meta.with_suffix("")
    lines = source.read_text().splitlines()
    functions = functions_by_name(ast.parse("\n".join(lines)))
    exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
    for key, exit_code in exit_codes.items():
        generated = key.rpartition(".")[2]  # x_name__mutmut_3
        mangled = generated.partition("__mutmut_")[0]
        original, mutated = functions[f"{mangled}__mutmut_orig"], functions[generated]
        before, after = changed_lines(lines, original, mutated)
        yield Mutant(
            module=module_name(source.relative_to(mutated_package)),
            function=readable_name(mangled),
            name=key,
            original=before,
            mutated=after,
            status=status_by_exit_code[exit_code],
            message_only=is_message_only(original, mutated),
        )


def readable_name(mangled: str) -> str:
    """`redact_query` for x_redact_query, `Class.method` for xǁClassǁmethod."""
    if mangled.startswith(f"x{CLASS_SEPARATOR}"):
        return mangled[2:].replace(CLASS_SEPARATOR, ".")
    return mangled.removeprefix("x_")


def functions_by_name(module: ast.Module) -> dict[str, Function]:
    """Functions and methods of top-level classes: mutmut's copies all live there."""
    statements = [*module.body]
    for statement in module.body:
        if isinstance(statement, ast.ClassDef):
            statements.extend(statement.body)
    return {
        statement.name: statement
        for statement in statements
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def changed_lines(
    lines: list[str], original: Function, mutated: Function
) -> tuple[str, str]:
    def body(function: Function) -> list[str]:
        text = lines[function.lineno - 1 : function.end_lineno]
        return [text[0].replace(function.name, "", 1), *text[1:]]

    diff = list(difflib.unified_diff(body(original), body(mutated), lineterm="", n=0))
    removed = [line[1:].strip() for line in diff[2:] if line.startswith("-")]
    added = [line[1:].strip() for line in diff[2:] if line.startswith("+")]
    return " / ".join(removed), " / ".join(added)

"""Owns what mutmut needs from the suite's subprocesses (as mutants/src/sitecustomize).

Tests that start the service (`python -m <package>`, `uvicorn --factory`) run
the mutated code in a child Python whose PYTHONPATH is the mutants' `src`, so
this file is imported there at start-up. It fixes two things mutmut 3 cannot see:

- Which functions a subprocess ran: mutmut records trampoline hits in its own
  process only, so a test whose code runs in a subprocess would be tied to no
  function and never run against a mutant. Here each hit during mutmut's stats
  run is appended to the file MUTATION_SUBPROCESS_HITS names, which the pytest
  plugin in `subprocess_hits.py` hands to mutmut as the test ends.
- `python -m <package>` runs `<package>/__main__.py` as the module `__main__`,
  so mutmut's trampoline would never match a mutant named `<package>.__main__.*`.
  Names are translated between the two.
"""

import os
import sys

HITS_VARIABLE = "MUTATION_SUBPROCESS_HITS"


def main_module_name() -> str | None:
    """`<package>.__main__` when this process is `python -m <package>`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec.name if spec is not None else None


def as_run(mutant_name: str) -> str:
    main = main_module_name()
    if main and mutant_name.startswith(f"{main}."):
        return "__main__" + mutant_name[len(main) :]
    return mutant_name


def as_imported(function_name: str) -> str:
    main = main_module_name()
    if main and function_name.startswith("__main__."):
        return main + function_name[len("__main__") :]
    return function_name


def install() -> None:
    from mutmut.mutation import trampoline

    mutant_under_test = trampoline.get_mutant_under_test
    hits_path, seen = os.environ.get(HITS_VARIABLE), set()

    def record_hit(name: str, caller: str | None = None) -> None:
        name = as_imported(name)
        if hits_path and name not in seen:
            seen.add(name)
            # One short O_APPEND write per name: whole lines, even from parallel
            # subprocesses.
            descriptor = os.open(hits_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(descriptor, f"{name}\n".encode())
            finally:
                os.close(descriptor)

    trampoline.get_mutant_under_test = lambda: as_run(mutant_under_test())
    trampoline.record_trampoline_hit = record_hit


# Imported as `mutation.subprocess_site` (for HITS_VARIABLE) it changes nothing.
if __name__ == "sitecustomize" and os.environ.get("MUTANT_UNDER_TEST"):
    install()

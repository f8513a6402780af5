"""Owns the record of one mutant: where, what it changes, how the suite took it."""

import dataclasses

# A suite that fails, crashes or hangs on a mutant has noticed it.
DETECTED = frozenset({"killed", "timeout", "segfault"})


@dataclasses.dataclass(frozen=True)
class Mutant:
    module: str  # dotted, inside the package: "redaction", "api.routes"
    function: str  # "on_start", "Class.method", or "constant NAME" outside functions
    name: str  # mutmut's mutant name, or "NAME:line:column→value" for a constant
    original: str  # the changed source line(s) before and after
    mutated: str
    status: str  # mutmut's words: killed, survived, timeout, no tests, ...
    message_only: bool

    @property
    def detected(self) -> bool:
        return self.status in DETECTED

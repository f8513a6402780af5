"""Owns the report: the score per module and overall, and every survivor.

A module's score is killed / total over its mutants (mutmut's and the
constants'), message-only mutants left out of both and counted in a column of
their own. Killed means the suite failed, crashed or timed out on the mutant;
any other outcome (survived, no test ran it, not checked) is a survivor.
"""

import dataclasses
from collections.abc import Iterable

from mutation.mutant import Mutant


@dataclasses.dataclass(frozen=True)
class RunContext:
    service: str
    modules: list[str]
    restricted: bool
    mutmut_version: str
    started: str  # ISO date and time
    minutes: float
    max_children: int


@dataclasses.dataclass(frozen=True)
class Score:
    killed: int
    total: int
    message_only_killed: int
    message_only_total: int

    @classmethod
    def of(cls, mutants: Iterable[Mutant]) -> "Score":
        mutants = list(mutants)
        scored = [mutant for mutant in mutants if not mutant.message_only]
        messages = [mutant for mutant in mutants if mutant.message_only]
        return cls(
            killed=sum(mutant.detected for mutant in scored),
            total=len(scored),
            message_only_killed=sum(mutant.detected for mutant in messages),
            message_only_total=len(messages),
        )

    @property
    def percent(self) -> str:
        return f"{100 * self.killed / self.total:.1f}%" if self.total else "n/a"


def render(mutants: list[Mutant], context: RunContext) -> str:
    by_module: dict[str, list[Mutant]] = {module: [] for module in context.modules}
    for mutant in mutants:
        by_module.setdefault(mutant.module, []).append(mutant)
    survivors = [m for m in mutants if not m.detected and not m.message_only]
    quiet_messages = [m for m in mutants if not m.detected and m.message_only]
    overall = Score.of(mutants)
    scope = (
        f"modules {', '.join(context.modules)} only (a restricted run)"
        if context.restricted
        else f"all of `src/{context.service}`"
    )
    lines = [
        f"# Mutation testing of the generated {context.service}",
        "",
        f"`make mutation` on {context.started}: {scope}; mutmut "
        f"{context.mutmut_version} plus the module-level constants, each mutant "
        f"against the baked project's own suite, {context.max_children} at a "
        f"time; {context.minutes:.0f} min. How to read this: CONTRIBUTING.md, "
        '"Mutation testing".',
        "",
        f"**Overall: {overall.killed} of {overall.total} mutants killed, "
        f"{overall.percent}**; message-only mutants, left out: "
        f"{overall.message_only_killed} of {overall.message_only_total} killed.",
        "",
        "| Module | Killed | Total | Score | Message-only killed |",
        "|---|---:|---:|---:|---:|",
    ]
    for module, module_mutants in sorted(by_module.items()):
        score = Score.of(module_mutants)
        lines.append(
            f"| {code(module)} | {score.killed} | {score.total} | {score.percent} "
            f"| {score.message_only_killed} / {score.message_only_total} |"
        )
    lines.append(
        f"| **all** | {overall.killed} | {overall.total} | {overall.percent} "
        f"| {overall.message_only_killed} / {overall.message_only_total} |"
    )
    lines += ["", f"## Survivors ({len(survivors)})", ""]
    lines += survivor_table(survivors)
    lines += ["", f"## Message-only survivors, not scored ({len(quiet_messages)})", ""]
    lines += survivor_table(quiet_messages)
    return "\n".join(lines) + "\n"


def survivor_table(mutants: list[Mutant]) -> list[str]:
    if not mutants:
        return ["None."]
    rows = ["| Module | Function | Outcome | Change |", "|---|---|---|---|"]
    for mutant in sorted(mutants, key=lambda m: (m.module, m.function, m.name)):
        change = f"{code(mutant.original)} → {code(mutant.mutated)}"
        # mutmut's number for the mutant: `mutmut show <name>` in a --keep bake.
        number = mutant.name.partition("__mutmut_")[2]
        function = code(mutant.function) + (f" #{number}" if number else "")
        module = code(mutant.module)
        rows.append(f"| {module} | {function} | {mutant.status} | {change} |")
    return rows


def code(text: str) -> str:
    """A Markdown code span that survives backticks and table pipes."""
    if not text:
        return "(nothing)"
    span = f"`` {text} ``" if "`" in text else f"`{text}`"
    return span.replace("|", "\\|")

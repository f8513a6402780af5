"""The shell commands a doc shows: every line of its ```sh blocks.

A command is one line of a ```sh block with its comment removed, lines ending
in a backslash joined to the next; blank and comment-only lines are not
commands. An alternative a comment offers (``# or: make up``, ``# or a local
checkout: cookiecutter path/to/checkout``) is a command too. The generated
README is read as written in the template, Jinja and all, so a command is
listed the way a maintainer edits it.
"""

import re
from pathlib import Path

SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# A comment starts at " #" outside quotes; the docs' commands quote no "#".
COMMENT = re.compile(r"(^|\s+)#.*$")
ALTERNATIVE = re.compile(r"#\s*or\b[^:]*:\s*(.+)$")


def block_commands(block: str) -> list[str]:
    commands, pending = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1].rstrip() + " "
            continue
        line = pending + line.strip()
        command = COMMENT.sub("", line).strip()
        pending = ""
        if command:
            commands.append(" ".join(command.split()))
            alternative = ALTERNATIVE.search(line)
            if alternative:
                commands.append(" ".join(alternative[1].split()))
    return commands


def doc_commands(doc: Path) -> list[str]:
    """The commands of every ```sh block of ``doc``, in order."""
    blocks = SH_BLOCK.findall(doc.read_text())
    return [command for block in blocks for command in block_commands(block)]

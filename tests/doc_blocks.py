"""The shell commands a doc shows: every line of its ```sh blocks.

A command is one line of a ```sh block with its comment removed, lines ending
in a backslash joined to the next; blank and comment-only lines are not
commands. The generated README is read as written in the template, Jinja and
all, so a command is listed the way a maintainer edits it.
"""

import re
from pathlib import Path

SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# A comment starts at " #" outside quotes; the docs' commands quote no "#".
COMMENT = re.compile(r"(^|\s+)#.*$")


def shell_blocks(doc: Path) -> list[list[str]]:
    """The commands of each ```sh block of ``doc``, block by block."""
    return [block_commands(block) for block in SH_BLOCK.findall(doc.read_text())]


def block_commands(block: str) -> list[str]:
    commands, pending = [], ""
    for line in block.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1].rstrip() + " "
            continue
        command = COMMENT.sub("", pending + line.strip()).strip()
        pending = ""
        if command:
            commands.append(" ".join(command.split()))
    return commands


def doc_commands(doc: Path) -> list[str]:
    return [command for block in shell_blocks(doc) for command in block]

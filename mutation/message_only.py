"""Owns the rule that sets a mutant apart as message-only: it changes text people read.

A mutant is message-only when the function before and after differs in exactly one
place, that place is a string literal on both sides, and the literal is message
text, which means one of:

- a positional argument of a logging call: a method debug, info, warning, warn,
  error, exception, critical or log on a receiver whose name contains
  "log" (`logger.warning("...")`, `logging.getLogger(name).info("...")`);
- a positional argument, or the `detail`, `msg` or `message` keyword, of an
  exception constructor: a name ending in Error, Exception or Warning, or
  SystemExit (`raise ValueError("...")`, `HTTPException(404, detail="...")`);
- a positional argument of `print` or `warnings.warn`;
- the `help`, `description` or `epilog` keyword of any call (argparse, pydantic).

The literal may sit in the argument itself or inside an f-string, a `%` or `+`
formatting, or a `"...".format(...)` that is the argument; and its placeholders
(`%s`, `%.1f`, `{name}`) must stay as they were, since a broken one loses the
whole line. Anywhere else it is
behaviour: a string compared, used as a key, a header, environment variable or
attribute name, or a URL is never one of the above, and neither is a literal
inside a dict, list, subscript or any other call within such an argument.
"""

import ast
import copy
import re
from collections.abc import Iterator

LOG_METHODS = frozenset(
    {
        "debug",
        "info",
        "warning",
        "warn",
        "error",
        "exception",
        "critical",
        "log",
    }
)
EXCEPTION_SUFFIXES = ("Error", "Exception", "Warning")
EXCEPTION_TEXT_KEYWORDS = frozenset({"detail", "msg", "message"})
TEXT_KEYWORDS = frozenset({"help", "description", "epilog"})
PLACEHOLDER = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]|\{[^{}]*\}")

Function = ast.FunctionDef | ast.AsyncFunctionDef
Difference = tuple[list[ast.AST], object, object]


def is_message_only(original: Function, mutated: Function) -> bool:
    mutated = copy.copy(mutated)
    mutated.name = original.name
    found = list(differences(original, mutated, []))
    if len(found) != 1:
        return False
    ancestors, before, after = found[0]
    if not (is_text(before) and is_text(after)):
        return False
    if PLACEHOLDER.findall(before.value) != PLACEHOLDER.findall(after.value):
        return False
    return is_message_text([*ancestors, before])


def is_text(node: object) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def differences(a: object, b: object, ancestors: list[ast.AST]) -> Iterator[Difference]:
    """Each place where the trees differ, with the nodes above it."""
    if type(a) is not type(b):
        yield ancestors, a, b
    elif not isinstance(a, ast.AST):
        if a != b:
            yield ancestors, a, b
    else:
        inside = [*ancestors, a]
        for field in a._fields:
            x, y = getattr(a, field, None), getattr(b, field, None)
            if isinstance(x, ast.AST) or isinstance(y, ast.AST):
                yield from differences(x, y, inside)
            elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
                for item_x, item_y in zip(x, y, strict=True):
                    yield from differences(item_x, item_y, inside)
            elif type(x) is not type(y) or x != y:
                # A changed scalar field is a change of this node itself.
                yield ancestors, a, b


def is_message_text(path: list[ast.AST]) -> bool:
    """Whether the last node of the path (root first) is message text."""
    child, keyword = path[-1], None
    for parent in reversed(path[:-1]):
        if isinstance(parent, ast.JoinedStr) or (
            isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mod | ast.Add)
        ):
            child = parent
        elif isinstance(parent, ast.Attribute) and parent.attr == "format":
            child = parent  # "...".format: the call around it is next
        elif isinstance(parent, ast.Call) and parent.func is child:
            child = parent
        elif isinstance(parent, ast.keyword):
            child, keyword = parent, parent.arg
        elif isinstance(parent, ast.Call):
            return is_message_call(parent, child, keyword)
        else:
            return False
    return False


def is_message_call(call: ast.Call, argument: ast.AST, keyword: str | None) -> bool:
    name = last_name(call.func)
    if keyword is not None:
        return keyword in TEXT_KEYWORDS or (
            keyword in EXCEPTION_TEXT_KEYWORDS and is_exception(name)
        )
    if argument not in call.args:
        return False
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    return (
        name == "print"
        or is_exception(name)
        or (name in LOG_METHODS and "log" in last_name(receiver).lower())
        or (name == "warn" and last_name(receiver) == "warnings")
    )


def is_exception(name: str) -> bool:
    return name.endswith(EXCEPTION_SUFFIXES) or name == "SystemExit"


def last_name(node: ast.AST | None) -> str:
    """The name a callee or receiver goes by: `b` in `a.b`, `getLogger` in a call."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""

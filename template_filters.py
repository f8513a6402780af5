"""A Jinja filter that makes a free-text answer safe inside a TOML string.

Cookiecutter loads this module through `_extensions` in cookiecutter.json. Jinja's
own `tojson` is not enough for TOML: it escapes characters outside the Basic
Multilingual Plane as surrogate pairs, which TOML rejects. The filter folds a
multi-line answer into one line, because core metadata's `Summary` is one line.
Free text never lands in generated Python: only validated answers do.
"""

from cookiecutter.utils import simple_filter

_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t"}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _toml_char(char: str) -> str:
    if char in _TOML_ESCAPES:
        return _TOML_ESCAPES[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{ord(char):04X}"
    return char


@simple_filter
def toml_escape(text: object) -> str:
    """Escape text for the inside of a TOML basic string ("...")."""
    return "".join(_toml_char(char) for char in _one_line(text))

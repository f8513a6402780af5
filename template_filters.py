"""Jinja filters for the answers: a TOML-safe string, and the default slug.

Cookiecutter loads this module through `_extensions` in cookiecutter.json.

`toml_escape`: Jinja's own `tojson` is not enough for TOML: it escapes characters
outside the Basic Multilingual Plane as surrogate pairs, which TOML rejects. The
filter folds a multi-line answer into one line, because core metadata's
`Summary` is one line. Free text never lands in generated Python: only
validated answers do.

`package_name`: the slug offered by default, derived from the project's name,
is always one the pre-generation hook accepts.
"""

import importlib.util
from pathlib import Path

from cookiecutter.utils import simple_filter
from slugify import slugify

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


def _load_pre_gen_hook():
    """The hook's own checks, so that the default and the hook never disagree."""
    path = Path(__file__).parent / "hooks" / "pre_gen_project.py"
    spec = importlib.util.spec_from_file_location("pre_gen_project", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@simple_filter
def package_name(name: object) -> str:
    """`Café Ünïcode` -> `cafe_unicode`, `2FA Service` -> `service_2fa_service`,
    `Email` -> `email_service` (the standard library has `email`)."""
    slug = slugify(str(name), separator="_", replacements=[["'", ""], ["\u2019", ""]])
    slug = slug or "my_service"
    if slug[0].isdigit():
        slug = f"service_{slug}"
    if _load_pre_gen_hook().check_slug(slug) is not None:
        slug = f"{slug}_service"
    return slug

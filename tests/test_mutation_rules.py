"""`make mutation`'s rule for message-only mutants, on the shapes the service has."""

import ast

import pytest

from mutation.message_only import is_message_only


def function(source: str) -> ast.FunctionDef:
    (definition,) = ast.parse(source).body
    return definition


@pytest.mark.parametrize(
    ("before", "after", "message_only"),
    [
        (
            'logger.warning("cannot export %s", x)',
            'logger.warning("XXcannot export %sXX", x)',
            True,
        ),
        (
            'raise ValueError("must be an http:// URL")',
            'raise ValueError("XXmust be an http:// URLXX")',
            True,
        ),
        (
            'raise HTTPException(502, detail="service_b: timed out")',
            'raise HTTPException(502, detail="XX")',
            True,
        ),
        # A placeholder lost changes the line a person reads: behaviour.
        (
            'logger.warning("lost %d spans", n)',
            'logger.warning("lost spans", n)',
            False,
        ),
        # Compared, a key, an environment variable: behaviour.
        ('return "?" in value', 'return "XX?XX" in value', False),
        ('line["service_name"] = name', 'line["XXservice_nameXX"] = name', False),
        (
            'os.environ.setdefault("GRPC_VERBOSITY", "ERROR")',
            'os.environ.setdefault("GRPC_VERBOSITY", "XXERRORXX")',
            False,
        ),
        # Two changes at once are never message-only.
        ('logger.info("a", "b")', 'logger.info("XXaXX", "XXbXX")', False),
    ],
)
def test_only_message_text_is_message_only(before, after, message_only):
    original = function(f"def f():\n    {before}\n")
    mutated = function(f"def f__mutmut_1():\n    {after}\n")

    assert is_message_only(original, mutated) is message_only

"""The W3C Trace Context rules, written from the specification, to judge the service.

https://www.w3.org/TR/trace-context-2/: `traceparent` is version-traceid-parentid-
flags in lowercase hex; version ff is invalid; version 00 has exactly four
fields, later versions may append more; all-zero ids are invalid. `tracestate`
has at most 32 list members, at most 512 characters when sent.
"""

import re

TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\r\n]*)?"
)
# Level 2: key = ( lcalpha / DIGIT ) 0*255 ( keychar ), keychar = lcalpha /
# DIGIT / "_" / "-" / "*" / "/" / "@" (every Level 1 simple and multi-tenant key
# among them); value = printable ASCII but , and =, ending in a non-space.
TRACESTATE_KEY = re.compile(r"[a-z0-9][a-z0-9_\-*/@]{0,255}")
TRACESTATE_VALUE = re.compile(
    r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512


def valid_parent(header: str) -> tuple[str, str] | None:
    """(trace id, parent id) if a receiver must adopt this traceparent, else None."""
    match = TRACEPARENT.fullmatch(header.strip(" \t"))
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id


def tracestate_problems(header: str) -> list[str]:
    """What is wrong with a tracestate this service sends; empty when compliant."""
    if not header:
        return []
    problems = []
    members = [member.strip(" \t") for member in header.split(",")]
    if len(members) > MAX_TRACESTATE_MEMBERS:
        problems.append(f"{len(members)} members")
    if len(header) > MAX_TRACESTATE_LENGTH:
        problems.append(f"{len(header)} characters")
    for member in members:
        key, equals, value = member.partition("=")
        if not equals or not TRACESTATE_KEY.fullmatch(key):
            problems.append(f"bad key in {member!r}")
        elif not TRACESTATE_VALUE.fullmatch(value):
            problems.append(f"bad value in {member!r}")
    keys = [member.partition("=")[0] for member in members]
    if len(set(keys)) != len(keys):
        problems.append("duplicate keys")
    return problems

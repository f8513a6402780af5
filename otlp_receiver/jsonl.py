"""JSON lines persistence of received spans: one JSON object per span per line.

The objects are exactly the :class:`ReceivedSpan` fields (ids as hex strings),
so :func:`read_jsonl` returns spans equal to the ones written.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from otlp_receiver.model import ReceivedSpan

_SPAN_FIELDS = frozenset(field.name for field in dataclasses.fields(ReceivedSpan))


def span_to_json(span: ReceivedSpan) -> dict[str, Any]:
    return dataclasses.asdict(span)


def span_from_json(data: dict[str, Any]) -> ReceivedSpan:
    # Unknown keys are dropped so files written by a newer version still load.
    return ReceivedSpan(**{k: v for k, v in data.items() if k in _SPAN_FIELDS})


def write_jsonl(
    spans: Iterable[ReceivedSpan], path: str | Path, *, append: bool = False
) -> int:
    """Write spans to ``path``, one per line; return how many were written."""
    lines = [json.dumps(span_to_json(span)) + "\n" for span in spans]
    with open(path, "a" if append else "w", encoding="utf-8") as file:
        file.writelines(lines)
    return len(lines)


def read_jsonl(path: str | Path) -> list[ReceivedSpan]:
    with open(path, encoding="utf-8") as file:
        return [span_from_json(json.loads(line)) for line in file if line.strip()]


class JsonlAppender:
    """Appends batches of spans to one file from many threads without interleaving."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, spans: Iterable[ReceivedSpan]) -> int:
        with self._lock:
            return write_jsonl(spans, self.path, append=True)

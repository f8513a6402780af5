"""What a load run returns, whichever tool made the load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    # Non-2xx answers, connection errors and timeouts together.
    errors: int = 0

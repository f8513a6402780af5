"""Load without wrk: a bounded asyncio client on keep-alive connections.

Each of `connections` tasks sends `GET path` on its own HTTP/1.1 connection,
reads the answer (headers and a Content-Length body), records the latency and
sends the next, until the duration is up. Every read has a timeout and the
run stops at the deadline, so a stuck server ends the run rather than
hanging it. It runs as its own process pinned to the load core
(`python -m benchmarks.load_python URL --seconds S`, from `load`), printing
one JSON line. It is slower than wrk, so it is the fallback and the smoke
test's client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from urllib.parse import urlsplit

from benchmarks.load import LoadResult

READ_TIMEOUT = 5.0


async def _one_connection(
    host: str, port: int, path: str, deadline: float, latencies: list[float]
) -> int:
    """Send requests until the deadline; return how many failed."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench\r\n\r\n"
    ).encode("ascii")
    errors = 0
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port), READ_TIMEOUT
    )
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, length = _status_and_length(head)
            await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 400:
                errors += 1
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        errors += 1
    finally:
        writer.close()
    return errors


def _status_and_length(head: bytes) -> tuple[int, int]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value.strip())
    raise ValueError("no Content-Length in the answer")


async def _load(url: str, seconds: float, connections: int) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    latencies: list[float] = []
    started = time.monotonic()
    deadline = started + seconds
    errors = await asyncio.gather(
        *(
            _one_connection(host, port, path, deadline, latencies)
            for _ in range(connections)
        ),
        return_exceptions=True,
    )
    elapsed = time.monotonic() - started
    failed = sum(e if isinstance(e, int) else 1 for e in errors)
    return summarize(latencies, elapsed, failed)


def summarize(latencies: list[float], elapsed: float, errors: int) -> LoadResult:
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
    else:
        p50 = p99 = latencies[0] if latencies else 0.0
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        requests_per_second=len(latencies) / elapsed if elapsed > 0 else 0.0,
        p50_ms=p50 * 1000,
        p99_ms=p99 * 1000,
        errors=errors,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_python")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, required=True)
    arguments = parser.parse_args(argv)
    result = asyncio.run(_load(arguments.url, arguments.seconds, arguments.connections))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

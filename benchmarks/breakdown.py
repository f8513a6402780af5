"""Where a traced request's CPU goes, step by step, and what that leaves the targets.

Each step of the main suite (a sampler that drops every span, spans recorded
but never exported, spans encoded but never sent, the default) costs its CPU
ratio to the untraced runs beside it (`Row.cpu_ratio`) times the untraced CPU
per request, minus the step before. The section's own text says how to read
it; for each throughput target it says what CPU the target leaves tracing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.configurations import (
    BATCH_GRPC,
    ENCODED_NOT_SENT,
    EXAMPLE,
    NOT_EXPORTED,
    PAIR_TRACED,
    PAIR_UNTRACED,
    ROOT,
    SAMPLED_0,
    UNTRACED,
)
from benchmarks.summary import Row, find
from benchmarks.targets import (
    BATCH_FLOOR,
    PAIR_FLOOR,
    SAMPLED_FLOOR,
    endpoint_label,
    ratio_text,
)

STEPS = (
    (SAMPLED_0.name, "FastAPI's telemetry and metrics, a span the sampler drops"),
    (NOT_EXPORTED.name, "the span recorded by the SDK, never exported"),
    (ENCODED_NOT_SENT.name, "the batch processor and the OTLP encoder"),
    (BATCH_GRPC.name, "sending over gRPC (the default: batch, gRPC)"),
)


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    cpu_us: float
    added_us: float
    ratio: float | None


def steps(rows: Sequence[Row], endpoint: str) -> list[Step]:
    """The measured steps on one endpoint, or [] when a step was not run."""
    untraced = find(rows, UNTRACED.name, endpoint)
    if untraced is None:
        return []
    found = [(find(rows, name, endpoint), label) for name, label in STEPS]
    if any(row is None or row.cpu_ratio is None for row, _ in found):
        return []
    base = untraced.cpu_us_per_request
    result = [Step(UNTRACED.name, "untraced: the request alone", base, 0.0, None)]
    for row, label in found:
        assert row is not None and row.cpu_ratio is not None
        cpu = row.cpu_ratio * base
        result.append(Step(row.name, label, cpu, cpu - result[-1].cpu_us, row.ratio))
    return result


def allowed_tracing_us(untraced_us: float, ratio: float) -> float:
    """CPU per request tracing may add for throughput to stay at `ratio`."""
    return untraced_us / ratio - untraced_us


def render_breakdown(rows: Sequence[Row]) -> str:
    """The section, or "" when the run lacks the steps (a subset of the suite)."""
    by_endpoint = {endpoint: steps(rows, endpoint) for endpoint in (ROOT, EXAMPLE)}
    if not any(by_endpoint.values()):
        return ""
    parts = [
        "## Where the traced CPU goes",
        "",
        "The service is saturated on one core, so requests per second is the "
        "inverse of CPU per request. Each step below is one configuration of the "
        "table above, its CPU per request taken against the untraced runs beside "
        "it (median over the repetitions) and scaled to the untraced median; "
        "'added' is what the step costs on top of the one before. Each step is "
        "its own run, so a step smaller than the machine's drift (about a tenth "
        "of a request) can come out negative: read it as about nothing.",
        "",
    ]
    for endpoint, found in by_endpoint.items():
        if found:
            parts += [_steps_table(endpoint, found, rows), ""]
    parts += _what_the_targets_leave(by_endpoint, rows)
    return "\n".join(parts)


def _steps_table(endpoint: str, found: Sequence[Step], rows: Sequence[Row]) -> str:
    path = next(row.path for row in rows if row.endpoint == endpoint)
    lines = [
        f"`GET {path}`:",
        "",
        "| step | CPU µs/req | added µs/req | ratio to untraced (req/s) |",
        "|---|---|---|---|",
    ]
    for step in found:
        added = "—" if step.name == UNTRACED.name else f"{step.added_us:+,.0f}"
        ratio = "—" if step.ratio is None else f"{step.ratio:.2f}"
        lines.append(f"| {step.label} | {step.cpu_us:,.0f} | {added} | {ratio} |")
    return "\n".join(lines)


def _what_the_targets_leave(
    by_endpoint: dict[str, list[Step]], rows: Sequence[Row]
) -> list[str]:
    lines = ["What the throughput targets leave tracing, from these steps:", ""]
    root = by_endpoint.get(ROOT) or []
    if root:
        untraced, recorded, sent = root[0], root[2], root[-1]
        allowed = allowed_tracing_us(untraced.cpu_us, BATCH_FLOOR)
        lines.append(
            f"- Batch on `GET /` >= {BATCH_FLOOR:.2f} allows tracing "
            f"{allowed:,.0f} µs per request. Recording the span, before any "
            f"export, takes {recorded.cpu_us - untraced.cpu_us:,.0f} µs, and the "
            "export path "
            f"(batching, encoding, sending) {sent.cpu_us - recorded.cpu_us:,.0f} "
            "µs more."
        )
    for endpoint, found in by_endpoint.items():
        if found:
            lines.append(_sampling_line(endpoint, found[0], found[1]))
    lines += _pair_line(rows, by_endpoint.get(EXAMPLE) or [])
    lines.append("")
    return lines


def _sampling_line(endpoint: str, untraced: Step, dropped: Step) -> str:
    allowed = allowed_tracing_us(untraced.cpu_us, SAMPLED_FLOOR)
    line = (
        f"- 10% sampling >= {SAMPLED_FLOOR:.2f} on {endpoint_label(endpoint)} allows "
        f"tracing {allowed:,.0f} µs per request; with every span dropped by the "
        "sampler, FastAPI's telemetry still takes "
        f"{dropped.added_us:,.0f} µs (0% sampling measured {ratio_text(dropped.ratio)})"
    )
    if dropped.added_us > allowed:
        return line + ", so no sampling ratio reaches the target."
    return line + "."


def _pair_line(rows: Sequence[Row], example: Sequence[Step]) -> list[str]:
    untraced = find(rows, PAIR_UNTRACED.name, EXAMPLE)
    traced = find(rows, PAIR_TRACED.name, EXAMPLE)
    if untraced is None or traced is None or traced.cpu_ratio is None:
        return []
    base = untraced.cpu_us_per_request
    added = (traced.cpu_ratio - 1) * base
    allowed = allowed_tracing_us(base, PAIR_FLOOR)
    spans = round(PAIR_TRACED.spans_expected(EXAMPLE, requests=1))
    line = (
        f"- The pair >= {PAIR_FLOOR:.2f} allows {allowed:,.0f} µs per request for its "
        f"{spans} spans ({allowed / spans:,.0f} µs each, both processes "
        f"on one core); they took {added:,.0f} µs ({added / spans:,.0f} each)"
    )
    if example:
        route_spans = BATCH_GRPC.spans_expected(EXAMPLE, requests=1)
        per_span = (example[-1].cpu_us - example[0].cpu_us) / route_spans
        line += f", against about {per_span:,.0f} µs per span on the example route"
    return [line + "."]

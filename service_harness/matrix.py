"""The option matrix: every combination of the answers that matter, and its test id.

``span_processor`` only sets a default in the generated ``settings.py``
(SERVICE_SPAN_PROCESSOR chooses at run time), so two selections of the one
list serve the tests: the generated project's own suite runs where the
generated code differs, protocol x client (``CODE_VARIANTS``); a real service
runs end to end with each processor x protocol, where behaviour differs
(``RUNTIME_VARIANTS``, with the client, as the pair's service_a has it).
"""

from __future__ import annotations

from collections.abc import Mapping

PROTOCOLS = ("grpc", "http/protobuf")
PROCESSORS = ("batch", "simple")

COMBINATIONS = [
    {
        "span_processor": processor,
        "otlp_protocol": protocol,
        "include_downstream_client": client,
    }
    for processor in PROCESSORS
    for protocol in PROTOCOLS
    for client in (False, True)
]
CODE_VARIANTS = [c for c in COMBINATIONS if c["span_processor"] == PROCESSORS[0]]
RUNTIME_VARIANTS = [c for c in COMBINATIONS if c["include_downstream_client"]]


def combination_id(answers: Mapping[str, object]) -> str:
    """A readable test id, e.g. ``processor:batch-protocol:grpc-client:no``."""
    client = "yes" if answers["include_downstream_client"] else "no"
    return (
        f"processor:{answers['span_processor']}"
        f"-protocol:{answers['otlp_protocol']}-client:{client}"
    )

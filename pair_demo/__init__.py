"""The tutorial's pair, end to end: service_b and service_a, one connected trace.

``python -m pair_demo`` (``make demo``) bakes both services from
``examples/service_b.yaml`` and ``examples/service_a.yaml``, runs them as real
uvicorn processes (through :mod:`service_harness`) that export over OTLP to a
local receiver, calls service_a once and shows the trace that crossed both
services.

* ``trace_check``: what a whole pair trace looks like, as a list of problems;
* ``traceparent``: the W3C header that crossed the wire, read back from spans.
"""

"""The tutorial's pair, end to end: service_b and service_a, one connected trace.

``python -m pair_demo`` (``make demo``) bakes both services from
``examples/service_b.yaml`` and ``examples/service_a.yaml``, runs them as real
uvicorn processes that export over OTLP to a local receiver, calls service_a
once and shows the trace that crossed both services.

The modules are the pieces the demo and the end-to-end tests share:

* ``ports``: choosing loopback ports and checking that one was released;
* ``processes``: a child process we own, its log file, and stopping it by PID;
* ``health``: the bounded wait for a service's ``/healthz``;
* ``projects``: baking the pair from the example config files and making the
  baked packages importable;
* ``pair``: :class:`~pair_demo.pair.RunningPair`, both services started and
  stopped as one;
* ``trace_check``: what a whole pair trace looks like, as a list of problems;
* ``traceparent``: the W3C header that crossed the wire, read back from spans.
"""

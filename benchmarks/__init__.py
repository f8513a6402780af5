"""The cost of tracing: the generated service measured traced against untraced.

`python -m benchmarks` (`make bench`) bakes a service and the example pair, runs
each under uvicorn pinned to core 0, drives it from core 1 (wrk, or a bounded
Python client without it), counts the spans a local OTLP receiver gets, and
writes `benchmarks/results/latest.md` and `latest.png`.

Services are baked and run through `service_harness`, as in the demo and the
tests. One module per part: what is measured (`configurations`,
`reference_app` with the peers, `provider_variants`), how a service runs (`services`,
`cpu_pinning`), how load is made (`load`, `load_python`), what is read from
/proc (`process_stats`), how spans are counted (`span_counter`), the run order
(`runner`), the figures (`summary`, `targets`, `breakdown`), the dedicated
runs (`outage_memory`, `bake_timing`), and the outputs (`report`, `chart`,
`machine`).
"""

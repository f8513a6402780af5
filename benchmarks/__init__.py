"""The cost of tracing: the generated service measured traced against untraced.

`python -m benchmarks` (`make bench`) bakes a service and the example pair, runs
each under uvicorn pinned to core 0, drives it from core 1 (wrk, or a bounded
Python client without it), counts the spans a local OTLP receiver gets, and
writes `benchmarks/results/latest.md` and `latest.png`. Each module owns one
part: what is measured (`configurations`), how a service is started
(`services`), how load is made (`load_wrk`, `load_python`), what is read from
/proc (`process_stats`), how spans are counted (`span_counter`), the run order
(`runner`), the figures (`summary`) and the outputs (`report`, `chart`).
"""

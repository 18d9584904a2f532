# One entry point per thing a person wants to do. `make test` is what CI runs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-glue-runtime check fmt bench simulator clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -r requirements-dev.txt
	$(PY) -m pip install -qq --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

## demo: the real job on the embedded default (simulator + local Parquet + DuckDB), then its results
demo: $(STAMP)
	$(PY) scripts/demo.py

## test: the whole suite (starts and stops its own simulator and PostgreSQL), then the job's tests on Glue 5.1
test: $(STAMP)
	$(PY) -m pytest
	$(PY) tests/glue_runtime.py job-tests

## test-glue-runtime: the job's tests in a venv of Glue 5.1's provided modules plus the bundle (cached in .cache/)
test-glue-runtime: $(STAMP)
	$(PY) tests/glue_runtime.py job-tests

## check: lint, format check and strict typing
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## bench: benchmarks against naive baselines (not part of `make test`)
bench: $(STAMP)
	$(PY) scripts/bench.py

## simulator: a Genesys Cloud simulator on http://127.0.0.1:8787 (client id/secret: demo / demo-secret)
simulator: $(STAMP)
	$(VENV)/bin/genesys-etl simulator --port 8787

clean:
	rm -rf $(VENV) data bench-results .pytest_cache .mypy_cache .ruff_cache .cache

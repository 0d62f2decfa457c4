# Every target builds what it needs from nothing but $(PYTHON) and make.
# The install re-runs only when pyproject.toml is newer than its stamp.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: venv run test test-db lint bench migrate clean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -e '.[test,bench]'
	touch $@

run: $(STAMP)
	$(BIN)/jobtrail serve --dev

test: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) || echo "no chromium: the dashboard's browser test will skip"
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-db: $(STAMP)
	$(BIN)/python -m pytest -m db

bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)  # bench_api.py's load generator
	@set -e; for script in bench/bench_*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; break; }; \
		echo "== $$script"; \
		$(BIN)/python "$$script"; \
	done

migrate: $(STAMP)
	$(BIN)/jobtrail migrate

clean:
	rm -rf $(VENV) .jobtrail .pytest_cache .mypy_cache .hypothesis *.egg-info build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

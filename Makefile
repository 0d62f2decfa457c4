# Every target builds what it needs from nothing but $(PYTHON) and make.
# The install re-runs only when pyproject.toml is newer than its stamp; running needs
# only the runtime stamp, testing and linting add the test tools on top.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: venv run test test-db lint bench migrate clean clean-data

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

$(BENCH_STAMP): pyproject.toml $(TEST_STAMP)
	$(BIN)/python -m pip install -e '.[test,bench]'
	touch $@

run: $(STAMP)
	$(BIN)/jobtrail serve --dev

test: $(TEST_STAMP)
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium) || echo "no chromium: the dashboard's browser test will skip"
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || (apt-get update && apt-get install -y nginx) || echo "no nginx: the several-hosts test will skip"
	@command -v promtool >/dev/null || [ -x /usr/bin/promtool ] || (apt-get update && apt-get install -y --no-install-recommends prometheus) || echo "no promtool: the alerting rules' test will skip"
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-db: $(TEST_STAMP)
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

# The embedded database (.jobtrail: every job, event and API key) is data, not a build
# product: clean keeps it and says so; clean-data deletes it, naming what goes.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis *.egg-info build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@[ ! -d .jobtrail ] || echo "kept .jobtrail, the embedded database; \`make clean-data\` deletes it"

clean-data:
	@running=$$(find .jobtrail -name postmaster.pid 2>/dev/null); \
	if [ -n "$$running" ]; then \
		echo "refused: an embedded PostgreSQL is running ($$running); stop jobtrail first"; exit 1; \
	fi
	@echo "deleting .jobtrail: the embedded PostgreSQL with every job, event and API key, and the development key"
	rm -rf .jobtrail

# Every target creates .venv and installs the project from pyproject.toml on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint format snapshot ui bench browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dawsos demo

# The end-to-end test drives Debian's chromium (playwright's own browser download is not used).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Lint and formatting first: CI (.ci/run -> make test) fails on a ruff finding before any test runs.
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/dagster definitions validate -w workspace.yaml
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Under a minute: no PostgreSQL server, no end-to-end run (tests marked slow, see tests/conftest.py).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

# ruff with the settings in pyproject.toml: `lint` only reports, `format` rewrites (formatting and safe fixes).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# After an intended change to the asset graph: rewrite the snapshot the lineage test compares with, then commit it.
snapshot: $(STAMP)
	$(BIN)/python -m tests.test_asset_graph_snapshot

ui: $(STAMP)
	$(BIN)/dawsos ui

bench: $(STAMP)
	$(BIN)/python bench/seed.py
	$(BIN)/python bench/migrations.py
	$(BIN)/python bench/checks.py
	$(BIN)/python bench/holdings.py --template dawsos_bench_checks

clean:
	rm -rf $(VENV) .dawsos

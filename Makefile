# `make test` is the one test command (CI runs it through .ci/run): install, lint, test, in this order.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
# The steps of `test` must run one after another, even under `make -j`.
.NOTPARALLEL:

PYTHON ?= python3
# dbt next to the interpreter, so a virtualenv's dbt wins over whatever else is on PATH.
DBT = $(shell $(PYTHON) -c 'import pathlib, sys; print(pathlib.Path(sys.executable).parent / "dbt")')

.PHONY: test install ensure-postgres ensure-chromium ensure-java lint lint-sql lint-py pytest demo

test: install ensure-postgres ensure-chromium ensure-java lint pytest

install:
	$(PYTHON) -m pip install -q -e '.[dev,spark]'

# Server binaries only; the tests start (and stop) their own throwaway servers.
ensure-postgres:
	bash scripts/ensure_postgres.sh

# A headless browser for the HTML report's rendering test (Debian's chromium when none is there).
ensure-chromium:
	bash scripts/ensure_chromium.sh

# A Java runtime for the Spark lane (tests/test_spark.py runs pyspark in the test process).
ensure-java:
	bash scripts/ensure_java.sh

lint: lint-sql lint-py

# sqlfluff with the dbt templater against a throwaway DuckDB (see scripts/lint_sql.py, .sqlfluff).
lint-sql:
	$(PYTHON) scripts/lint_sql.py models

lint-py:
	$(PYTHON) -m ruff check scripts tests bench

pytest:
	$(PYTHON) -m pytest -q

# The quickstart: install, generate the synthetic demo (5,000 persons with a known true person per
# message) into an embedded DuckDB file, build the package on it, score it against the truth.
DEMO_DIR := demo
DEMO_PERSONS ?= 5000
demo: install
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	idstitch demo --persons $(DEMO_PERSONS) --out $(DEMO_DIR)/csv --duckdb $(DEMO_DIR)/idstitch.duckdb --schema segment
	cp profiles.example.yml $(DEMO_DIR)/profiles.yml
	IDSTITCH_DUCKDB_PATH=$(abspath $(DEMO_DIR))/idstitch.duckdb DBT_TARGET_PATH=$(DEMO_DIR)/target \
		DBT_LOG_PATH=$(DEMO_DIR)/logs $(DBT) build --profiles-dir $(DEMO_DIR) --target duckdb
	idstitch quality --duckdb $(DEMO_DIR)/idstitch.duckdb --source-schema segment --output-schema main

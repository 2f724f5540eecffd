# `make test` is the one test command (CI runs it through .ci/run): install, lint, test, in this order.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
# The steps of `test` must run one after another, even under `make -j`.
.NOTPARALLEL:

PYTHON ?= python3
# dbt next to the interpreter, so a virtualenv's dbt wins over whatever else is on PATH.
DBT = $(shell $(PYTHON) -c 'import pathlib, sys; print(pathlib.Path(sys.executable).parent / "dbt")')

.PHONY: test install ensure-postgres lint lint-sql lint-py pytest demo

test: install ensure-postgres lint pytest

install:
	$(PYTHON) -m pip install -q -e '.[dev]'

# Server binaries only; the tests start (and stop) their own throwaway servers.
ensure-postgres:
	bash scripts/ensure_postgres.sh

lint: lint-sql lint-py

# sqlfluff with the dbt templater against a throwaway DuckDB (see scripts/lint_sql.py, .sqlfluff).
lint-sql:
	$(PYTHON) scripts/lint_sql.py models

lint-py:
	$(PYTHON) -m ruff check scripts tests bench

pytest:
	$(PYTHON) -m pytest -q

# TODO(lead): finish the demo (persons/seed, `idstitch quality` afterwards, README wording). Placeholder:
# generate the synthetic data into a DuckDB file, then build the package on it with profiles.example.yml.
DEMO_DIR := demo
demo: install
	mkdir -p $(DEMO_DIR)
	idstitch demo --out $(DEMO_DIR)/csv --duckdb $(DEMO_DIR)/demo.duckdb --schema segment
	cp profiles.example.yml $(DEMO_DIR)/profiles.yml
	IDSTITCH_DUCKDB_PATH=$(CURDIR)/$(DEMO_DIR)/demo.duckdb DBT_TARGET_PATH=$(DEMO_DIR)/target \
		DBT_LOG_PATH=$(DEMO_DIR)/logs $(DBT) build --profiles-dir $(DEMO_DIR) --target duckdb

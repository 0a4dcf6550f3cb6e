# gridmap: the two commands are `make demo` and `make test`; the rest are their steps.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHON

.PHONY: help setup db migrate demo demo-small serve test fuzz fault verify bench clean

help:
	@echo "make demo   - set everything up, load the demo city, serve it on 127.0.0.1:$${GRIDMAP_PORT:-8000}"
	@echo "make test   - set everything up and run the whole test suite against real PostGIS"
	@echo "make db     - install/start the local PostGIS and create the gridmap role and databases"
	@echo "make verify - check the loaded demo city's topology (no gaps, no overlaps, exact nesting)"
	@echo "make fuzz   - a bounded schemathesis run over the OpenAPI document (its own throwaway database)"
	@echo "make fault  - reports sent while the server is killed and PostgreSQL restarts (its own cluster)"
	@echo "make bench  - run the benchmarks under bench/"

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@scripts/ensure-tools.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@scripts/ensure-tools.sh
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

db:
	@scripts/ensure-postgis.sh

migrate: setup db
	$(BIN)/gridmap db migrate

demo: migrate
	$(BIN)/gridmap demo load
	$(BIN)/gridmap serve

demo-small: migrate
	$(BIN)/gridmap demo load --small --reports 20000
	$(BIN)/gridmap serve

serve: setup
	$(BIN)/gridmap serve

verify: setup
	$(BIN)/gridmap demo verify

test: setup db
	$(BIN)/ruff check -q geo api maps fixtures cli tests bench scripts
	$(BIN)/python -m pytest

fuzz: setup db
	$(BIN)/python scripts/fuzz.py

fault: setup db
	$(BIN)/python bench/fault_test.py

bench: migrate
	@command -v wrk >/dev/null || scripts/apt-install.sh wrk
	$(BIN)/gridmap demo load
	@for f in bench/match_bench.py bench/maps_bench.py bench/ingest_bench.py bench/load_demo.py; do \
		echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis

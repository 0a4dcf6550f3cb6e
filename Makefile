# gridmap: the two commands are `make demo` and `make test`; the rest are their steps.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHON

# The benchmarks' own database: `make bench` loads the demo there, never into yours.
BENCH_DATABASE_URL ?= postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap_bench
# The 50,000-grid province (`make province`) lives in a database of its own, made from the template.
PROVINCE_DB ?= gridmap_province
PROVINCE_DATABASE_URL ?= postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/$(PROVINCE_DB)
# `make bench-history`: the demo city (1 M reports) and the same with 19 M reports of older history.
HISTORY_1M ?= gridmap_history_1m
HISTORY_20M ?= gridmap_history_20m
HISTORY_URL ?= postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432

.PHONY: help setup db migrate demo demo-small province serve test fuzz fault backup-test verify bench bench-history clean

help:
	@echo "The two commands:"
	@echo "  make demo       install what is missing (Debian packages incl. PostGIS and Chromium, .venv with the dev"
	@echo "                  dependencies, npm map assets), migrate, load the demo city (skipped when loaded and"
	@echo "                  unchanged; refused if the database holds data the demo did not create), serve it on"
	@echo "                  http://127.0.0.1:$${GRIDMAP_PORT:-8000} in the foreground"
	@echo "  make test       the same installs, then ruff (lint) and the whole pytest suite on fresh PostGIS databases"
	@echo "Their steps and the rest:"
	@echo "  make setup      .venv (the package editable, with its dev dependencies) and node_modules (npm ci)"
	@echo "  make db         install/start the local PostGIS; create role gridmap and databases gridmap, gridmap_bench"
	@echo "                  and gridmap_template (only checks GRIDMAP_DATABASE_URL when it is set)"
	@echo "  make migrate    setup + db, then gridmap db migrate"
	@echo "  make demo-small one district (120 grids, 20,000 reports) instead of the whole city, then serve"
	@echo "  make province   the synthetic 50,000-grid province (no reports) into its own database $(PROVINCE_DB)"
	@echo "                  (created from gridmap_template when missing; ~1 min); serve it with"
	@echo "                  GRIDMAP_DATABASE_URL=$(PROVINCE_DATABASE_URL) make serve"
	@echo "  make serve      serve whatever is loaded"
	@echo "  make verify     check the loaded city's topology (no gaps, no overlaps, exact nesting)"
	@echo "  make fuzz       a bounded schemathesis run over the OpenAPI document (its own throwaway database, ~8 min)"
	@echo "  make fault      reports sent while the server is killed and PostgreSQL restarts (its own cluster, ~3 min)"
	@echo "  make backup-test  gridmap backup and restore of the small demo city, each in a throwaway database made"
	@echo "                  from gridmap_template (dropped after): row counts, demo verify and media equal (~1 min)"
	@echo "  make bench      the benchmarks under bench/, on the demo loaded into BENCH_DATABASE_URL (gridmap_bench)"
	@echo "  make bench-history  the serving side on 1 M vs 20 M reports (intake, hot spots, command centre, listings):"
	@echo "                  databases gridmap_history_1m and gridmap_history_20m, made once and kept (~13 GB of disk;"
	@echo "                  the first time ~40 min on 2 busy cores), then bench/history_bench.py (~8 min); not in make test"
	@echo "  make clean      delete .venv, node_modules and the test caches (not the database)"

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

province: setup db
	@PGPASSWORD=gridmap psql -h 127.0.0.1 -U gridmap -d gridmap -Atqc \
		"SELECT 1 FROM pg_database WHERE datname = '$(PROVINCE_DB)'" | grep -q 1 \
		|| PGPASSWORD=gridmap createdb -h 127.0.0.1 -U gridmap -T gridmap_template $(PROVINCE_DB)
	GRIDMAP_DATABASE_URL=$(PROVINCE_DATABASE_URL) $(BIN)/gridmap db migrate
	GRIDMAP_DATABASE_URL=$(PROVINCE_DATABASE_URL) $(BIN)/gridmap demo load --province

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

backup-test: setup db
	GRIDMAP=$(BIN)/gridmap scripts/backup-test.sh

bench: setup db
	@command -v wrk >/dev/null || scripts/apt-install.sh wrk
	GRIDMAP_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/gridmap db migrate
	GRIDMAP_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/gridmap demo load --yes
	@for f in bench/match_bench.py bench/maps_bench.py bench/ingest_bench.py bench/boundaries_bench.py bench/tiles_bench.py bench/open311_bench.py bench/webhooks_bench.py bench/load_demo.py; do \
		echo "== $$f"; GRIDMAP_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python $$f || exit 1; done

bench-history: setup db
	@for d in $(HISTORY_1M) $(HISTORY_20M); do \
		PGPASSWORD=gridmap psql -h 127.0.0.1 -U gridmap -d gridmap -Atqc "SELECT 1 FROM pg_database WHERE datname = '$$d'" \
			| grep -q 1 || PGPASSWORD=gridmap createdb -h 127.0.0.1 -U gridmap -T gridmap_template $$d || exit 1; \
		GRIDMAP_DATABASE_URL=$(HISTORY_URL)/$$d $(BIN)/gridmap db migrate || exit 1; done
	GRIDMAP_DATABASE_URL=$(HISTORY_URL)/$(HISTORY_1M) $(BIN)/gridmap demo load --yes
	GRIDMAP_DATABASE_URL=$(HISTORY_URL)/$(HISTORY_20M) $(BIN)/python bench/history_load.py --demo
	$(BIN)/python bench/history_bench.py --small $(HISTORY_URL)/$(HISTORY_1M) --large $(HISTORY_URL)/$(HISTORY_20M)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis .ruff_cache

# B12 Risk Atlas. `make run` serves the dashboard, `make test` runs every test.
# Both create .venv and install what they need; nothing is downloaded at run time.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# 127.0.0.1: reachable from this machine only. On a server, ADDRESS=0.0.0.0 listens on every
# interface (put it behind a proxy with TLS).
ADDRESS ?= 127.0.0.1
# make serve: app processes behind nginx, on the ports after PORT (one per core is a start).
REPLICAS ?= 2
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.DEFAULT_GOAL := help
.PHONY: help run serve dev test test-spark data lint bench screenshots chromium nginx golden clean-data

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.dev: requirements.txt requirements-dev.txt $(BIN)/.runtime
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

data/manifest.json: $(BIN)/.runtime dashboard/build.py dashboard/schema.py $(wildcard data/sources/*/*.csv)
	$(BIN)/python -m dashboard.build

data: $(BIN)/.runtime  ## Rebuild data/*.parquet and data/manifest.json from data/sources/
	$(BIN)/python -m dashboard.build

run: $(BIN)/.runtime data/manifest.json  ## Set up and serve the dashboard on http://127.0.0.1:8501 (ADDRESS=0.0.0.0 for a server)
	@echo "serving on http://$(ADDRESS):$(PORT) (ADDRESS=0.0.0.0 to listen on every interface)"
	$(BIN)/streamlit run serve.py --server.port $(PORT) --server.address $(ADDRESS)

serve: $(BIN)/.runtime data/manifest.json nginx  ## Serve REPLICAS=N app processes (ports PORT+1...) behind nginx on PORT, with session affinity
	$(BIN)/python -m deploy.replicas --replicas $(REPLICAS) --port $(PORT) --address $(ADDRESS)

dev: $(BIN)/.runtime data/manifest.json  ## Serve with the file watcher on: pages rerun when a file is saved
	$(BIN)/streamlit run serve.py --server.port $(PORT) --server.address $(ADDRESS) \
	  --server.fileWatcherType auto --server.runOnSave true

chromium:  ## Install Debian's chromium for the browser tests when absent
	@test -x /usr/bin/chromium || ($(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium)

nginx:  ## Install Debian's nginx for make serve and the replica test when absent
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || ($(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx)

test: $(BIN)/.dev chromium nginx data/manifest.json  ## Set up and run the whole test suite (unit, app, browser)
	$(BIN)/python -m pytest -m "not spark"

$(BIN)/.spark: requirements-spark.txt $(BIN)/.dev
	$(BIN)/python -m pip install --quiet -r requirements-spark.txt
	touch $@

test-spark: $(BIN)/.spark  ## --engine spark in Spark local mode (installs a JRE and PySpark)
	@command -v java >/dev/null || ($(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jre-headless)
	$(BIN)/python -m pytest -m spark tests/test_engine_spark.py -W ignore::FutureWarning

lint: $(BIN)/.dev  ## ruff check
	$(BIN)/ruff check .

bench: $(BIN)/.dev nginx chromium data/manifest.json  ## Print the speed and memory figures in benchmarks/
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done
	@echo "== benchmarks/bench_sessions.py --replicas 2"; $(BIN)/python benchmarks/bench_sessions.py --replicas 2
	@echo "== benchmarks/bench_sessions.py --yardstick 120"; $(BIN)/python benchmarks/bench_sessions.py --yardstick 120
	@echo "== benchmarks/bench_upload.py --mb 150"; $(BIN)/python benchmarks/bench_upload.py --mb 150

screenshots: $(BIN)/.dev chromium data/manifest.json  ## Save a desktop and a phone PNG of every page to docs/screenshots/
	$(BIN)/python -m tests.screenshots

golden:  ## Regenerate tests/golden/ with R into a temp folder and compare (installs R when absent)
	@Rscript -e 'library(survey); library(metafor)' >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq r-base-core r-cran-survey r-cran-metafor)
	Rscript tests/golden/make_golden.R --check

clean-data:  ## Remove built datasets
	rm -f data/*.parquet data/manifest.json

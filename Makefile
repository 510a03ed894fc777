# The template's verbs. `make` alone lists them. Each target installs what it needs into .venv.
.DEFAULT_GOAL := help
SHELL := bash

PYTHON ?= python3
VENV := .venv
DEMO_DIR := build/demo
# The template's tools first on PATH: cookiecutter's hooks and DVC's stage commands use them.
export PATH := $(abspath $(VENV)/bin):$(PATH)

$(VENV)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "$(PYTHON) is older than 3.11; run: make $(MAKECMDGOALS) PYTHON=python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv || echo "uv unavailable: installing with pip (slower)"
	if [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install --compile-bytecode --python $(VENV)/bin/python -r requirements-dev.txt; \
	else $(VENV)/bin/python -m pip install -r requirements-dev.txt; fi
	touch $@

## Install the template's tools into .venv (every other target does this first)
install: $(VENV)/.installed

# pyspark, for the tests of engine=spark bakes (`make demo` does without it). It comes only as a 456 MB source
# archive that every install would build again (~46 s and 1.4 GB of uv cache each time): its wheel is built once
# into build/wheelhouse, and installed from there. The same pin as the baked project's [spark] extra. The wheel's
# files are stored, not compressed: its jars are zip files already, and deflating 450 MB of them again took
# 8 of the build's 21 CPU-seconds, for a wheel 8% smaller.
PYSPARK := pyspark==4.3.*
WHEELHOUSE := build/wheelhouse

$(VENV)/.pyspark: $(VENV)/.installed
	@ls $(WHEELHOUSE)/pyspark-4.3.*.whl >/dev/null 2>&1 || { echo "Building the pyspark wheel once, into $(WHEELHOUSE)"; \
		$(VENV)/bin/python -m pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) \
		--config-settings=--build-option=--compression=stored "$(PYSPARK)"; }
	if [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install --python $(VENV)/bin/python --find-links $(WHEELHOUSE) \
		--only-binary pyspark "$(PYSPARK)"; \
	else $(VENV)/bin/python -m pip install --find-links $(WHEELHOUSE) --only-binary pyspark "$(PYSPARK)"; fi
	touch $@

## Bake the default project into build/demo and run its pipeline
demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	cookiecutter --no-input . --output-dir $(DEMO_DIR)
	cd $(DEMO_DIR)/my-ml-project && dvc repro && dvc metrics show --md
	@echo "Baked project: $(DEMO_DIR)/my-ml-project (MLflow store: mlflow.db there; browse with: make mlflow-ui)"

# Whole files to each worker (their module fixtures bake and train once), handed out in the order
# tests/conftest.py sorts them: longest first, so no long file starts last.
PYTEST_PARALLEL := -n auto --dist loadfile --no-loadscope-reorder

## Run the whole test suite (bakes every option value, runs the real pipelines, CI, containers; ~25 min on 2 cores)
test: $(VENV)/.installed $(VENV)/.pyspark system-tools ci-tools
	pytest $(PYTEST_PARALLEL)

## The edit-run loop: every test not marked slow (bakes, hooks, docs, CI configs; a few minutes). CI runs `make test`
test-fast: $(VENV)/.installed $(VENV)/.pyspark
	pytest $(PYTEST_PARALLEL) -m "not slow"

# Debian packages the tests need: podman, runc ... mmdebstrap for tests/test_container.py (it builds and
# runs the baked Dockerfile without a Docker engine or a registry; mmdebstrap builds the base image from
# Debian's packages), rsync for gitlab-ci-local (it copies the repository into each job's directory),
# and Node.js with npm when npm is missing (for ci-tools below; gitlab-ci-local 4.73.0 was verified on
# Node.js 20, Debian 12 ships 18). prometheus (it ships promtool) for tests/test_monitoring.py: promtool
# unit-tests the baked alert rules, and a real Prometheus scrapes the served app. The tests start their own
# Prometheus on a free 127.0.0.1 port; on a host with systemd, Debian also enables and starts its service
# (port 9090) and node exporter: `systemctl disable --now prometheus prometheus-node-exporter` if unwanted.
# chromium for tests/test_browser.py and make screenshots (Playwright drives it).
# Java (Debian's default JRE, 17 on Debian 12) when `java` is missing: the engine=spark tests run Spark.
SYSTEM_PACKAGES := podman runc uidmap slirp4netns fuse-overlayfs mmdebstrap rsync prometheus chromium

## Install podman, mmdebstrap, rsync, prometheus, chromium (and npm, Java) with apt-get when missing (root only; never fails, says why it did not)
system-tools:
	@missing=""; for package in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$package 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$package"; \
	done; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "system-tools: not installing$$missing (needs root and apt-get): the tests that need them skip or fail saying so"; exit 0; \
	fi; \
	echo "system-tools: apt-get install$$missing"; \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } >/dev/null \
		|| echo "system-tools: apt-get could not install$$missing: the tests that need them skip or fail saying so"

# Node tools, pinned in ci-tools/package-lock.json: gitlab-ci-local runs the baked .gitlab-ci.yml
# (tests/test_ci_gitlab_local.py); vega, vega-lite, vega-embed are what scripts/vendor_vega.py inlines into the
# baked plots_template.html; mermaid draws the report comment's charts (tests/test_browser.py, make screenshots).
# npm ci writes node_modules/.package-lock.json last.
ci-tools/node_modules/.package-lock.json: ci-tools/package.json ci-tools/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix ci-tools --no-audit --no-fund; \
	else echo "ci-tools: npm not found (make system-tools installs it, as root): tests/test_ci_gitlab_local.py will fail"; fi

## Install the pinned Node tools (gitlab-ci-local, vega, mermaid) into ci-tools/node_modules with npm ci
ci-tools: system-tools ci-tools/node_modules/.package-lock.json

## Benchmark /predict against `mlflow models serve` on the same model (writes benchmarks/results.json)
bench-serving: $(VENV)/.installed
	python benchmarks/serving.py

## P7: engine=spark vs pandas, time and memory at 1M rows, largest size under a 3 GiB cap (an hour or more)
bench-spark: $(VENV)/.installed $(VENV)/.pyspark
	python benchmarks/spark.py

## All benchmarks at full size vs plain-script baselines (1-2 hours with P7; results.json, RESULTS.md)
bench: $(VENV)/.installed $(VENV)/.pyspark
	python benchmarks/serving.py
	python benchmarks/pipeline.py
	python benchmarks/spark.py

## The benchmarks at smoke size: checks the runners work (writes build/bench-quick.json)
bench-quick: $(VENV)/.installed $(VENV)/.pyspark
	python benchmarks/serving.py --quick --results build/bench-quick.json
	python benchmarks/pipeline.py --quick --results build/bench-quick.json
	python benchmarks/spark.py --quick --results build/bench-quick.json

.PHONY: system-tools ci-tools bench-serving bench-spark bench bench-quick

# The docs site: docs/ (docs/project: the baked project's pages) and mkdocs.yml. The options page's table comes
# from cookiecutter.json first.
# chromium (SYSTEM_PACKAGES) is for tests/test_browser.py and `make screenshots`: Playwright drives Debian's
# build, because Playwright's own browser download needs a CDN that is not reachable everywhere.
export NO_MKDOCS_2_WARNING := 1

## Build the docs site into build/site with mkdocs --strict (a broken link, anchor or image fails it)
docs: $(VENV)/.installed
	python scripts/options_table.py
	mkdocs build --strict

## Serve the docs site at http://127.0.0.1:8001, rebuilt on every change
docs-serve: $(VENV)/.installed
	python scripts/options_table.py
	mkdocs serve --strict --dev-addr 127.0.0.1:8001

## Take the docs' screenshots (docs/images/*.png) from a fresh bake, with Playwright and Debian's Chromium
screenshots: $(VENV)/.installed system-tools ci-tools
	python scripts/screenshots.py

.PHONY: docs docs-serve screenshots

## Check the template's own Python (hooks, tests) with ruff
lint: $(VENV)/.installed
	ruff check hooks tests scripts
	ruff format --check hooks tests scripts

## Remove .venv and build/
clean:
	rm -rf $(VENV) build

## List these commands
help:
	@awk '/^## /{doc=substr($$0, 4); next} /^[a-z-]+:/{sub(/:.*/, "", $$1); if (doc) printf "  make %-14s %s\n", $$1, doc; doc=""}' $(MAKEFILE_LIST)

.PHONY: install demo test test-fast lint clean help

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
	if [ -x $(VENV)/bin/uv ]; then $(VENV)/bin/uv pip install --python $(VENV)/bin/python -r requirements-dev.txt; \
	else $(VENV)/bin/python -m pip install -r requirements-dev.txt; fi
	touch $@

## Install the template's tools into .venv (every other target does this first)
install: $(VENV)/.installed

## Bake the default project into build/demo and run its pipeline
demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	cookiecutter --no-input . --output-dir $(DEMO_DIR)
	cd $(DEMO_DIR)/my-ml-project && dvc repro && dvc metrics show --md
	@echo "Baked project: $(DEMO_DIR)/my-ml-project (MLflow store: mlflow.db there; browse with: make mlflow-ui)"

## Run the whole test suite (bakes every option value, runs the real pipelines)
test: $(VENV)/.installed container-tools
	pytest -n auto --dist loadfile

# What tests/test_container.py needs to build and run the baked Dockerfile without a Docker engine or a
# registry (podman with runc; mmdebstrap builds the base image from Debian's packages).
CONTAINER_PACKAGES := podman runc uidmap slirp4netns fuse-overlayfs mmdebstrap

## Install podman and mmdebstrap with apt-get when missing (root only; never fails, says why it did not)
container-tools:
	@missing=""; for package in $(CONTAINER_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$package 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "container-tools: not installing$$missing (needs root and apt-get): the container test will skip"; exit 0; \
	fi; \
	echo "container-tools: apt-get install$$missing"; \
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } >/dev/null \
		|| echo "container-tools: apt-get could not install$$missing: the container test will skip"

## Benchmark /predict against `mlflow models serve` on the same model (writes benchmarks/results.json)
bench-serving: $(VENV)/.installed
	python benchmarks/serving.py

.PHONY: container-tools bench-serving

## Check the template's own Python (hooks, tests) with ruff
lint: $(VENV)/.installed
	ruff check hooks tests
	ruff format --check hooks tests

## Remove .venv and build/
clean:
	rm -rf $(VENV) build

## List these commands
help:
	@awk '/^## /{doc=substr($$0, 4); next} /^[a-z-]+:/{sub(/:.*/, "", $$1); printf "  make %-8s %s\n", $$1, doc; doc=""}' $(MAKEFILE_LIST)

.PHONY: install demo test lint clean help

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
test: $(VENV)/.installed
	pytest -n auto --dist loadfile

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

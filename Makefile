# The two README commands: `make demo` and `make test`. Each installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit checkov-venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

$(CHECKOV_VENV)/.installed: policies/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r policies/requirements-checkov.txt
	touch $(CHECKOV_VENV)/.installed

checkov-venv: $(CHECKOV_VENV)/.installed

demo: $(STAMP)
	$(BIN)/mediakit demo --out demo-out

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) checkov-venv
	$(BIN)/pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) demo-out .pytest_cache .mypy_cache .ruff_cache

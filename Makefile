# The two README commands: `make demo` and `make test`. Each installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STAMP := $(VENV)/.installed
# Debian's Chromium, driven by tests/emulator/test_browser.py through Playwright (which never
# downloads a browser of its own here).
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint typecheck unit checkov-venv chromium clean

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

# Installed once (root, or passwordless sudo), quietly; when it cannot be, the browser test says
# why and skips, or fails under CI=true.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "chromium: not installed and not root; the browser test will skip"; exit 0; fi; \
	  echo "chromium: installing Debian's chromium for the browser test"; \
	  log=$$(mktemp); \
	  if ! { $$SUDO apt-get update -qq && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	    } >"$$log" 2>&1; then \
	    tail -n 20 "$$log"; echo "chromium: install failed; the browser test will say so"; \
	  fi; \
	  rm -f "$$log"; \
	fi

demo: $(STAMP)
	$(BIN)/mediakit demo --out demo-out

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) checkov-venv chromium
	$(BIN)/pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) demo-out .pytest_cache .mypy_cache .ruff_cache

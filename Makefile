# The two README commands, `make demo` and `make test`, and `make bench`. Each installs what it
# needs itself, and only that: one venv, one stamp per install set (pyproject.toml's extras).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
# `make demo`: the main dependencies and the `demo` extra (tests/test_install.py checks that the
# demo runs with nothing more).
DEMO_STAMP := $(VENV)/.installed-demo
# `make test`: the `dev` extra, which includes the demo's.
TEST_STAMP := $(VENV)/.installed-test
# `make bench`: the `bench` extra, which includes the demo's.
BENCH_STAMP := $(VENV)/.installed-bench
# Debian's Chromium, driven by tests/emulator/test_browser.py through Playwright (which never
# downloads a browser of its own here).
CHROMIUM := /usr/bin/chromium
# What the tests need from the system besides Chromium: the README's curl flow
# (tests/test_readme_curl.py) runs with jq and curl. Debian package names.
TEST_DEBS := jq curl

.PHONY: demo test bench lint typecheck unit checkov-venv chromium test-debs clean

# The venv itself, with a current pip (Python 3.11.7 bundles pip 23.2).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# --no-compile: pip would byte-compile every module of every package at install, pulumi-aws's
# generated code included (about 150 MB of .pyc, more than half of `make demo`'s install time
# here: 36 s against 17 s); Python compiles the modules a command imports when it first does.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e ".[demo]"
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e ".[dev]"
	touch $@ $(DEMO_STAMP)

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e ".[bench]"
	touch $@ $(DEMO_STAMP)

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

# The same for the curl flow's tools: installed only if one is missing; the test skips (fails
# under CI=true) when they still are.
test-debs:
	@missing=; for t in $(TEST_DEBS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "test-debs:$$missing not installed and not root; the curl flow test will skip"; \
	    exit 0; fi; \
	  echo "test-debs: installing$$missing for the README's curl flow test"; \
	  log=$$(mktemp); \
	  if ! { $$SUDO apt-get update -qq && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	    } >"$$log" 2>&1; then \
	    tail -n 20 "$$log"; echo "test-debs: install failed; the curl flow test will say so"; \
	  fi; \
	  rm -f "$$log"; \
	fi

demo: $(DEMO_STAMP)
	$(BIN)/mediakit demo --out demo-out

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

unit: $(TEST_STAMP) checkov-venv chromium test-debs
	$(BIN)/pytest -q

test: lint typecheck unit

# The headline benchmark (bench/README.md has the others): BENCH_ARGS="--cases jpeg --runs 5"
bench: $(BENCH_STAMP)
	$(BIN)/python bench/thumbnails.py $(BENCH_ARGS)

# Everything the commands write: the venvs, the demo's output, the emulator's env files, upload
# state, import manifests and wheel cache (.mediakit/), `mediakit build`'s zips (dist/), SARIF
# reports (results/), the editable install's metadata and the tools' caches.
clean:
	rm -rf $(VENV) $(CHECKOV_VENV) demo-out .mediakit dist build results *.egg-info \
	  .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.pyc' -type f -delete

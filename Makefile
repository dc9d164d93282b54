# Two set-up commands: `make demo` and `make test`. Both create .venv when it is missing.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vislab-installed

.PHONY: install demo test test-all bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's metadata changed; the package itself is editable.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vislab train digits

# The board's browser tests need Chromium and its driver: installed here where we are root with apt-get;
# elsewhere those tests skip and say why.
browser:
	@if ! command -v chromedriver >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
			|| echo "chromium not installed: the browser tests will skip"; fi

# One pytest worker per core (WORKERS=1 for a serial run). loadscope gives a worker whole modules (and whole test
# classes): module fixtures build once, and a journey's steps share one training in the order written; the units go
# out in the order tests/conftest.py sorts them (the longest first), not reordered by their number of tests.
# lint-imports first: an import against the layers in pyproject.toml fails the target before any test runs.
# `make test` is every user path and every fix (under 12 minutes on 2 cores); `make test-all` adds the tests marked
# slow: exact resumes after kills at random moments, sweeps whose workers are killed at random, trainings long enough
# to learn what a check must find, and further cases of capabilities that make test runs once through the CLI.
WORKERS ?= auto
test: install browser
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadscope --no-loadscope-reorder -m "not slow"

test-all: install browser
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadscope --no-loadscope-reorder

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) runs .pytest_cache

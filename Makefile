# The two commands: `make demo` and `make test`. Each installs what it needs first.
# `make test-fast` is the fast tier, `make lint` the checks both test targets run first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: install system-deps demo lint test test-fast bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

demo: install
	$(BIN)/ml-connector demo $(ARGS)

# From Debian's packages: Chromium for the browser test (driven by Playwright through its
# executable path, never a downloaded browser) and PostgreSQL for the concurrency tests.
system-deps:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing$$missing; their tests skip here (sudo apt-get install$$missing)"; fi; \
	fi

# ruff on the whole tree (rules in pyproject.toml), mypy on the engine and the connectors.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint system-deps
	$(BIN)/python -m pytest $(ARGS)

# The fast tier (about two minutes on an idle machine): tests marked `fast` by tests/conftest.py
# (connectors, mappings, ledger on SQLite, engine, emulators, webhooks, CLI). `make test` runs
# everything.
test-fast: lint
	$(BIN)/python -m pytest -m fast $(ARGS)

bench: install
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) .ml-connector

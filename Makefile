# Tongban: `make demo` runs the platform with the demo city; `make test` runs the whole test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## Set up and run the platform with the demo city on SQLite at http://127.0.0.1:8000
demo: $(VENV)/.installed
	$(BIN)/tongban demo

## Set up and run the whole test suite (DATABASE_URL selects PostgreSQL; SQLite by default)
test: $(VENV)/.installed
	bash scripts/test-deps.sh
	$(MAKE) --no-print-directory lint
	DJANGO_SETTINGS_MODULE=tongban.settings.test $(BIN)/tongban makemigrations --check --dry-run
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check src bench
	$(BIN)/ruff format --check src bench
	bash scripts/messages.sh --check

## Benchmarks; prints figures (see bench/README.md)
bench: $(VENV)/.installed
	$(BIN)/python -m bench

messages: $(VENV)/.installed
	bash scripts/messages.sh

clean:
	rm -rf $(VENV) var

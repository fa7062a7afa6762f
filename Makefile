# Smart Province Platform — the two commands: `make run` and `make test`.
#   make run    create .venv, install, migrate, load the demo data on first start, serve on
#               http://127.0.0.1:8000 (SMARTPROVINCE_PORT / SMARTPROVINCE_DATA_DIR move port and data)
#   make test   install, then run the whole test suite (two processes)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint bench fmt clean system-deps migrate demo demo-reset

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	./scripts/ensure-system-deps.sh

run: $(STAMP)
	$(BIN)/smartprovince run

migrate: $(STAMP)
	$(BIN)/smartprovince migrate

demo: $(STAMP)
	$(BIN)/smartprovince demo load

demo-reset: $(STAMP)
	$(BIN)/smartprovince demo reset

test: $(STAMP) system-deps
	$(BIN)/pytest -n 2 -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy src

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# The project's few commands. Each installs what it needs first, so on a fresh machine
# `make demo` and `make test` are all there is to it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo serve test check bench clean

$(BIN)/linli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/linli

demo: install          ## run Linli (embedded) with a demo neighbourhood on http://127.0.0.1:8000
	$(BIN)/linli demo

serve: install         ## run Linli with the configuration in the environment
	$(BIN)/linli serve

test: install          ## the whole test suite (Redis and PostgreSQL tests need those servers)
	$(BIN)/python -m pytest

check: install         ## lint and type-check
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) linli-data .pytest_cache .mypy_cache .ruff_cache

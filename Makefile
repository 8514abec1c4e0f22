# The project's few commands. Each installs what it needs first, so on a fresh machine
# `make demo` and `make test` are all there is to it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# How many pytest processes `make test` runs (pytest-xdist). Each test has its own key prefix,
# schema, files and free ports, so they share the servers; more than the machine's cores only
# makes the timing-bound tests wait. 1 runs the suite in one process.
TEST_WORKERS ?= 2

.PHONY: install demo serve test check typecheck-js bench clean

# Running needs Linli and its dependencies only (`-e .`); the tests and checks add the `test`
# extra (pytest, Playwright, ruff, mypy, …) into the same .venv, once.
$(BIN)/linli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/linli pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.test-installed  ## Linli and the test toolkit (what a developer works with)

demo: $(BIN)/linli     ## run Linli (embedded) with a demo neighbourhood on http://127.0.0.1:8000
	$(BIN)/linli demo

serve: $(BIN)/linli    ## run Linli with the configuration in the environment
	$(BIN)/linli serve

test: $(VENV)/.test-installed node_modules/.package-lock.json bench/peers/node/node_modules/.package-lock.json  ## the whole test suite (Redis and PostgreSQL tests need those servers; the accessibility checks need axe-core from npm; the benchmark smoke tests the Node peers)
	$(BIN)/python -m pytest $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS))

check: $(VENV)/.test-installed typecheck-js  ## lint and type-check (Python and the pages' JavaScript)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# TypeScript only checks web/static/js (tsconfig.json; the service worker: tsconfig.sw.json); the
# pages run the files as they are.
# npm ci again only when the lock changed (npm ci writes node_modules/.package-lock.json).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The benchmark's Node peers (bench/peers/node; python -m bench setup does the same), for the
# bench smoke test.
bench/peers/node/node_modules/.package-lock.json: bench/peers/node/package-lock.json
	npm ci --no-audit --no-fund --prefix bench/peers/node
	touch $@

typecheck-js: node_modules/.package-lock.json  ## type-check the pages' scripts (// @ts-check + JSDoc)
	npx tsc -p tsconfig.json
	npx tsc -p tsconfig.sw.json

clean:
	rm -rf $(VENV) linli-data .pytest_cache .mypy_cache .ruff_cache node_modules

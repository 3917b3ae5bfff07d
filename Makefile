# Wellspring. `make run` and `make test` work on a fresh machine: they create .venv and install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run run-cluster run-web generate-web generate-jvm test-jvm contract screenshots test generate check-generated migrate lint bench install clean

# `make` alone lists the targets; `make run` and `make test` are always spelled out.
.DEFAULT_GOAL := help

## help: list the targets with what they do (from their `##` lines)
help:
	@sed -n 's/^## \([a-z-]*\): /\1\t/p' $(MAKEFILE_LIST) | awk -F '\t' '{ printf "  %-16s %s\n", $$1, $$2 }'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,web]'
	touch $(STAMP)

## install: create .venv and install the project with its dev tools (again when pyproject.toml changes)
install: $(STAMP)

## run: migrate, seed demo data when empty, serve on WELLSPRING_ADDR (default 127.0.0.1:50051)
run: $(STAMP)
	$(PY) -m service serve --seed-demo

## run-cluster: REPLICAS (2) replicas from BASE_PORT (50051) sharing WELLSPRING_DATABASE_URL (PostgreSQL) and WELLSPRING_REDIS_URL
REPLICAS ?= 2
BASE_PORT ?= 50051
run-cluster: $(STAMP)
	$(PY) scripts/run_cluster.py --replicas $(REPLICAS) --base-port $(BASE_PORT)

## run-web: the server (demo data), the real Envoy in front of it on WEB_PORT (8080) and the demo app on APP_PORT (5173)
WEB_PORT ?= 8080
APP_PORT ?= 5173
run-web: $(STAMP)
	$(PY) scripts/run_web.py --port $(WEB_PORT) --app-port $(APP_PORT)

## generate-web: the TypeScript client's code from protos/ (web/src/gen, protoc-gen-es through buf; a test checks it)
generate-web:
	cd web && npm ci --no-audit --no-fund && npm run generate

## generate-jvm: the JVM client's Java stubs from protos/ (clients/jvm/generated; Debian's protoc and grpc-java plugin; a test checks it)
generate-jvm: $(STAMP)
	$(PY) -c 'from harness import jvm; jvm.regenerate()'

## test-jvm: the JVM client's JUnit 5 tests against a real server, directly and through Envoy (part of make test)
test-jvm: $(STAMP)
	$(PY) -m pytest -q tests/e2e/test_jvm_client.py

## screenshots: the browser tests, saving the demo app's screens to docs/screenshots (shown in the README)
screenshots: $(STAMP)
	WELLSPRING_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/e2e/test_browser.py

## test: the whole suite (unit, integration against PostgreSQL, end-to-end over real channels)
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## generate: rebuild generated/ from protos/ (deterministic)
generate: $(STAMP)
	$(VENV)/bin/buf lint
	$(PY) scripts/generate.py

## contract: record protos/ as the shipped v1 contract (contract/v1.binpb) that buf breaking checks against;
## run it when a release ships additive changes, never to make a breaking change pass (README "API policy")
contract: $(STAMP)
	$(VENV)/bin/buf breaking --against contract/v1.binpb
	$(VENV)/bin/buf build --exclude-source-info -o contract/v1.binpb

## check-generated: fail if generated/ differs from what protos/ produce (a test checks it too)
check-generated: $(STAMP)
	$(PY) scripts/generate.py --check

## migrate: apply Alembic migrations to WELLSPRING_DATABASE_URL
migrate: $(STAMP)
	$(PY) -m service migrate

## lint: buf lint, buf breaking against the shipped contract (contract/v1.binpb), ruff over the Python trees, import-linter's layer contracts, mypy --strict over service/ and wellspring_client/ (pyproject)
lint: $(STAMP)
	$(VENV)/bin/buf lint
	$(VENV)/bin/buf breaking --against contract/v1.binpb
	$(VENV)/bin/ruff check service wellspring_client harness tests bench scripts contract
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy service wellspring_client

## bench: ratios measured in one run against a real server process
bench: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then bash scripts/ensure-services.sh --bench; \
	 else sudo -n bash scripts/ensure-services.sh --bench || echo "bench: could not check system packages (needs root)"; fi
	$(PY) -m bench $(BENCH_ARGS)

## clean: remove .venv, var/ (the demo database) and build output
clean:
	rm -rf $(VENV) var build *.egg-info

# Autonama's commands. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=
DATA ?=
LOCAL := deploy/local

.PHONY: help setup services-up services-down services-status migrate test test-unit lint format demo schema up down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: ## install uv if missing, sync the workspace from the lock file (idempotent)
	@if ! command -v uv >/dev/null 2>&1 && [ ! -x "$(HOME)/.local/bin/uv" ]; then \
		echo "[setup] installing uv from PyPI"; \
		python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --user --break-system-packages uv; \
	fi
	$(UV) sync --frozen --all-packages
	@$(LOCAL)/kafka.sh fetch

services-up: ## start the local Kafka broker and PostgreSQL (no Docker needed)
	$(LOCAL)/services.sh up

services-down: ## stop them
	$(LOCAL)/services.sh down

services-status: ## say whether they run
	$(LOCAL)/services.sh status

migrate: setup ## apply the database migrations to the local PostgreSQL
	$(UV) run --frozen autonama migrate

test: setup ## the whole test suite on a real Kafka and PostgreSQL (started and stopped here)
	$(LOCAL)/with-services.sh $(UV) run --frozen pytest $(PYTEST_ARGS)

test-unit: setup ## only the fast tests that need no broker or database
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

lint: setup ## ruff check, ruff format --check, mypy strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy shared/src cli/src services/fetcher/src services/analyzer/src services/ingestor/src services/alerts_api/src

format: setup ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

demo: setup ## scan the core movers (Binance; offline: make demo DATA=<folder of candle files>)
	@if [ -n "$(DATA)" ]; then \
		$(UV) run --frozen autonama scan --data "$(DATA)" --output results --charts results/charts; \
	else \
		$(UV) run --frozen autonama scan --output results --charts results/charts; \
	fi
	@echo "results and charts are in results/ (charts in results/charts/)"

schema: setup ## regenerate the published JSON Schema of the results file
	$(UV) run --frozen autonama schema > shared/src/autonama_shared/schemas/backtest_results.schema.json

up: ## run the whole stack locally (not built yet)
	@echo "make up is not built yet: it needs the services (issues 4-6)." >&2
	@exit 2

down: ## stop the whole stack (not built yet)
	@echo "make down is not built yet: it needs the services (issues 4-6); 'make services-down' stops Kafka and PostgreSQL." >&2
	@exit 2

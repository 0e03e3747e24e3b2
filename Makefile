# The interface for people and CI alike. `make demo` and `make test` set themselves up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := functions:infra:.

.PHONY: help install demo sandbox test test-fast lint format typecheck validate build bench soak clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(STAMP): requirements.txt functions/requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)  ## create .venv with runtime, test and lint dependencies

demo: $(STAMP)  ## run the real handler against the sandbox for a few cycles, printing both sides
	$(BIN)/python infra/demo.py

# Fixed ports: the README and infra/events/env.local.json expect notion 8700, trello 8701, airtable 8702, sheets 8703.
SANDBOX_PORT_BASE ?= 8700
sandbox: $(STAMP)  ## start the API emulators on ports 8700-8703 (SANDBOX_PORT_BASE=N to move them), print their URLs
	$(BIN)/python -m sandbox --port-base $(SANDBOX_PORT_BASE)

test: $(STAMP)  ## lint + types, then every test (unit, contract, sandbox, e2e, infrastructure, soak)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: $(STAMP)  ## unit tests only
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)  ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## cost and speed figures for N = 100, 1000, 10000 leads, the fan-out of 200 pairs (BENCH_ARGS=--fanout-only), webhook latency
	$(BIN)/python infra/bench.py $${BENCH_ARGS:-}
	$(BIN)/python infra/bench_webhooks.py $${WEBHOOK_BENCH_ARGS:---edits 200}

soak: $(STAMP)  ## randomized fault/crash scenarios per lead tracker; SCENARIOS=N to size it
	$(BIN)/python infra/soak.py --scenarios $${SCENARIOS:-200}

SAM_VENV ?= .venv-sam
$(SAM_VENV)/bin/sam:
	$(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli

validate: $(STAMP) $(SAM_VENV)/bin/sam  ## cfn-lint + sam validate --lint
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --region eu-west-1

build: $(SAM_VENV)/bin/sam  ## sam build (needs python3.12 on PATH; pyenv provides it here)
	PYENV_VERSION=3.11.7:3.12.1:3.13.0 $(SAM_VENV)/bin/sam build

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .mypy_cache .leadsync

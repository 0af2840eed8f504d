# jobcast — the two commands: `make up` (run the whole pipeline) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up down venv lint test unit integration schemas clean bench bench-publish bench-ingest \
	bench-distributor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start Kafka, Postgres, the Graph API sandbox and all five services; run the demo.
up: venv
	$(BIN)/jobcast stack up

## Stop everything `make up` started.
down:
	@if [ -x $(BIN)/jobcast ]; then $(BIN)/jobcast stack down; else echo "nothing to stop (no virtualenv)"; fi

## Static checks: ruff, mypy --strict, and the JSON Schema files match the models.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy jobcast jobcast_cli schemas services tests bench
	$(BIN)/python -m schemas.export --check

## Everything: lint, unit tests, and integration tests on real Kafka + Postgres.
test: lint
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

integration: venv
	$(BIN)/pytest tests/integration

## Benchmarks (numbers in .jobcast/bench/*.json). The publisher: 10,000 commands, 500 accounts,
## sandbox latency 200 ms; one run per platform.
bench-publish: venv
	$(BIN)/python -m bench.publish --platform facebook
	$(BIN)/python -m bench.publish --platform instagram

## The HTTP front door: batches of 100, then single events at 1,000 requests/s.
bench-ingest: venv
	$(BIN)/python -m bench.ingest

## The distributor: 20,000 immediate jobs, then 100,000 timers due over 60 s.
bench-distributor: venv
	$(BIN)/python -m bench.distributor

bench: bench-ingest bench-distributor bench-publish

## Regenerate schemas/json after a deliberate contract change.
schemas: venv
	$(BIN)/python -m schemas.export

clean: down
	rm -rf .jobcast

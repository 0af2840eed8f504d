# jobcast — the two commands: `make up` (run the whole pipeline) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up down venv lint test unit integration schemas clean bench bench-publish bench-ingest \
	bench-distributor prometheus bench-rebuild bench-e2e soak chaos fuzz-e2e bench-instructions docs bench-contract \
	bench-peer

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start Kafka, Postgres, the Graph API sandbox and all the services; run the demo.
## `python -m` from the checkout: `stack` lives in devtools/, which is not installed.
up: venv
	$(BIN)/python -m jobcast_cli.main stack up

## Stop everything `make up` started.
down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m jobcast_cli.main stack down; else echo "nothing to stop (no virtualenv)"; fi

## Static checks: ruff, mypy --strict, and the JSON Schema files match the models.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy jobcast jobcast_cli schemas services devtools tests bench
	$(BIN)/python -m schemas.export --check
	$(BIN)/python -m jobcast_cli.settings_doc --check
	$(BIN)/python -m jobcast_cli.asyncapi --check

## Everything: lint, unit tests, and integration tests on real Kafka + Postgres (and the
## console in headless Chromium, installed when missing: devtools/install_browser.sh).
test: lint
	devtools/install_browser.sh
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

integration: venv
	$(BIN)/pytest tests/integration

## Benchmarks (numbers in .jobcast/bench/*.json; with BENCH_RECORD=1 also in bench/results/,
## see docs/performance.md). The publisher: 10,000 commands, 500 accounts,
## sandbox latency 200 ms; one run per platform.
bench-publish: venv
	$(BIN)/python -m bench.publish --platform facebook
	$(BIN)/python -m bench.publish --platform instagram
	# One lane per account caps Instagram at 500 accounts / (2 calls x 200 ms) = 1,250 posts/s.
	$(BIN)/python -m bench.publish --platform instagram --lanes 2

## Instructions per Instagram post in the publisher (callgrind; ~5 min, needs valgrind):
## how publisher changes are compared when the VM's speed swings from run to run.
bench-instructions: venv
	$(BIN)/python -m bench.instructions

## What validating one job event against the contract costs (in process, timeit).
bench-contract: venv
	$(BIN)/python -m bench.contract

## The HTTP front door: batches of 100, then single events at 1,000 requests/s.
bench-ingest: venv
	$(BIN)/python -m bench.ingest

## The distributor, two instances as deployed (one consumer group): 50,000 immediate jobs,
## then 100,000 timers due over 60 s. `python -m bench.distributor --instances 1`: one process.
bench-distributor: venv
	$(BIN)/python -m bench.distributor --instances 2

## The read model: `jobcast rebuild metrics` from 1,000,000 result events, 3 times (median).
## REBUILD_ARGS="--runs 10 --decoders fast,contract" compares the loaders' decoders.
bench-rebuild: venv
	$(BIN)/python -m bench.rebuild --runs 3 $(REBUILD_ARGS)

## End to end: ingest HTTP → both posts `posted` (sandbox latency 0), latency at 20% of the
## max rate, and the baselines (Kafka's perf tools, a raw aiokafka relay) in the same run.
bench-e2e: venv
	$(BIN)/python -m bench.e2e

bench: bench-ingest bench-distributor bench-publish bench-rebuild bench-e2e

## Side by side with the Celery peer (FastAPI + Postgres + Redis + Celery prefork x4 + httpx), run
## from PEER_DIR by its own scripts, on the same Graph sandbox: 2,000 jobs from 10 tenants (a Page
## and an IG account each), peer and jobcast alternated twice; jobs/s, CPU per job, p99, Graph
## calls per job and the ratios. PEER_ARGS="--jobs 200 --runs 1" shrinks it.
PEER_DIR ?= ../shared/peers/celery_peer
bench-peer: venv
	$(BIN)/python -m bench.peer --peer-dir $(PEER_DIR) $(PEER_ARGS)

## Steady load for SOAK_MINUTES (default 30) at 1,000 jobs/s or what the machine sustains
## (SOAK_RATE=auto); samples RSS and consumer lag and says whether both stayed flat.
soak: venv
	$(BIN)/python -m bench.soak

## Chaos at full scale: 10,000 jobs, 2 tenants, 200 connections, on a private Kafka and
## Postgres, while services are SIGKILLed and the broker and Postgres restart. The quick
## version runs in `make test` (tests/integration/test_chaos.py). CHAOS_ARGS=--replay then
## rewinds every consumer group and checks that nothing changes.
chaos: venv
	$(BIN)/python -m tests.suites.chaos --jobs $(or $(CHAOS_JOBS),10000) \
		--connections $(or $(CHAOS_CONNECTIONS),200) $(CHAOS_ARGS)

## Extreme-but-valid events: 10,000 odd job events at the contract's limits (and malformed
## ones, odd Kafka headers) over HTTP and jobs.incoming among 500 normal jobs, on a private
## Kafka and Postgres; no consumer may stall. The quick version runs in `make test`
## (tests/integration/test_fuzz_extreme.py). FUZZ_ARGS="--seed N" repeats a run.
fuzz-e2e: venv
	$(BIN)/python -m tests.suites.fuzz_e2e --events $(or $(FUZZ_EVENTS),10000) $(FUZZ_ARGS)

## Prometheus (Debian's package) scraping the `make up` stack with deploy/prometheus/, on :9090;
## the rules' alerts show at http://127.0.0.1:9090/alerts. Grafana: deploy/compose or deploy/k8s.
prometheus:
	@command -v prometheus >/dev/null || { echo "apt-get install prometheus" >&2; exit 1; }
	prometheus --config.file=deploy/prometheus/prometheus.yml \
		--storage.tsdb.path=.jobcast/prometheus --web.listen-address=127.0.0.1:9090

## Regenerate the generated pages: docs/settings.md (settings classes), docs/asyncapi.json (topics).
docs: venv
	$(BIN)/python -m jobcast_cli.settings_doc
	$(BIN)/python -m jobcast_cli.asyncapi

## Regenerate schemas/json after a deliberate contract change.
schemas: venv
	$(BIN)/python -m schemas.export

clean: down
	rm -rf .jobcast

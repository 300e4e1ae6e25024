# Switchboard: `make run` starts the product, `make test` runs every test.
# Both need only Python 3.11; everything else installs into .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev run test lint docs format bench load fuzz faults clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## run: install if needed, migrate, seed the demo (embedded default only), start everything
## (SITE_URL defaults to the address it serves on: survey links and the demo chat's allowed origin follow PORT)
run: export SITE_URL ?= http://$(HOST):$(PORT)
run: install
	$(BIN)/python manage.py migrate --noinput
	@if [ -z "$$DATABASE_URL" ]; then $(BIN)/python manage.py seed_demo; \
	else echo "DATABASE_URL is set: not seeding demo users (python manage.py seed_demo --force does)."; fi
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

## test: the whole suite; on PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set.
## In TEST_WORKERS processes (pytest-xdist; tests/parallel.py says what each keeps to itself);
## TEST_WORKERS=0 runs it in this one process (or PYTEST_ARGS="-n 0"); PYTEST_ARGS="-k name" picks tests
TEST_WORKERS ?= 2
test: install-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## lint: ruff, mypy and the import layers (lint-imports, contracts in pyproject.toml), as CI runs them
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

## docs: build the manual (docs/, mkdocs.yml) strictly, as CI does: a broken link or a page outside the nav fails
docs: install-dev
	site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"; \
	status=$$?; rm -rf "$$site"; exit $$status

## bench: every benchmark on PostgreSQL (DATABASE_URL, default the local server), one table in bench/ and docs/benchmarks.md
## (BENCH_ARGS="--only email" runs some and keeps the others' last figures, dated)
## (the load benchmark also needs Redis: REDIS_URL, default the local server's database 0; give it a database no
## running Switchboard uses, since its worker would take the load run's tasks)
BENCH_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/switchboard)
BENCH_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
bench: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python manage.py bench_table --docs $(BENCH_ARGS)

## load: 200 agents and a surge of 50,000 posts against uvicorn, Celery worker and beat (bounded: 15 min);
## LOAD_ARGS="--load-agents 10 --load-posts 300" for a short run
load: install-dev
	DATABASE_URL=$(BENCH_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python manage.py bench load --json $(LOAD_ARGS)

## fuzz: the bad-input properties with 2,000 examples each (make test runs 60)
fuzz: install-dev
	FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest -q tests/capture/test_webhooks_fuzz.py

## faults: kill a worker mid-posting, restart Redis and PostgreSQL under load (private servers on free ports,
## never the machine's), plus the quick outage and disconnect faults that make test also runs
faults: install-dev
	timeout 900 $(BIN)/python -m pytest -q -s -m faults tests/
	timeout 300 $(BIN)/python -m pytest -q -s tests/faults/test_fault_platform_outage.py tests/faults/test_fault_browser_disconnect.py

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data

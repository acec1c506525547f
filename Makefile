# paperfeed: `make run` does the whole set-up and runs the main job; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-random lint bench clean browser axe

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Fresh machine -> a working site: install, create the SQLite database, fetch recent papers from arXiv
## (or, offline, import the seed file), start a background worker (embeds them, resumable: semantic search
## fills in as it goes; then hourly updates and the digests; log in var/worker.log), and serve on
## http://127.0.0.1:8000/.
## The secret key comes from PAPERFEED_SECRET_KEY, else a random one kept in var/secret_key.
run: install
	$(BIN)/paperfeed init
	$(BIN)/paperfeed update
	@mkdir -p var && test -s var/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(48))" > var/secret_key
	@chmod 600 var/secret_key
	(PAPERFEED_SECRET_KEY="$${PAPERFEED_SECRET_KEY:-$$(cat var/secret_key)}" $(BIN)/paperfeed worker > var/worker.log 2>&1 &)
	PAPERFEED_SECRET_KEY="$${PAPERFEED_SECRET_KEY:-$$(cat var/secret_key)}" PAPERFEED_JOBS_IN_PROCESS=false \
		$(BIN)/paperfeed serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/mypy tests  # the tests too: typed fixtures, no type: ignore

## Debian's Chromium for the browser tests (Playwright drives it; no browser download). Skipped where it
## cannot be installed: those tests then skip with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1))) || \
		echo "chromium is not installed: the browser tests will be skipped"

## axe-core from npm (package-lock.json) for the accessibility tests; skipped where npm is missing: those
## tests then skip with a reason.
axe:
	@test -f node_modules/axe-core/axe.min.js || (command -v npm >/dev/null 2>&1 && \
		npm ci --no-audit --no-fund --silent) || echo "npm is not available: the accessibility tests will be skipped"

## Every check CI runs: ruff, mypy, then the whole pytest suite (with the browser and accessibility tests).
test: lint browser axe
	$(BIN)/python -m pytest

## The suite in three shuffled orders (pytest-randomly): no test may depend on another's order or leftovers.
test-random: install browser axe
	for seed in 1 2 3; do $(BIN)/python -m pytest -o addopts="-ra --strict-markers" -p randomly \
		--randomly-seed=$$seed -q || exit 1; done

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search_quality.py
	$(BIN)/python bench/first_hour.py --load 20
	$(BIN)/python bench/search_latency.py
	$(BIN)/python bench/web_load.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/recommend_quality.py
	$(BIN)/python bench/cf_gowalla.py
	$(BIN)/python bench/recommend_speed.py
	$(BIN)/python bench/backends.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

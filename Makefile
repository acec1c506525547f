# paperfeed: `make run` does the whole set-up and runs the main job; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Fresh machine -> a working feed: install, create the SQLite database, fetch recent papers from arXiv
## (or, offline, import the seed file), then print the latest day's feed.
run: install
	$(BIN)/paperfeed init
	$(BIN)/paperfeed update
	$(BIN)/paperfeed papers

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## Every check CI runs: ruff, mypy, then the whole pytest suite.
test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/search_quality.py
	$(BIN)/python bench/search_latency.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

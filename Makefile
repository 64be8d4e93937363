# ARENA: every developer and CI entry point. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
CONFIG ?= smoke
PY := $(VENV)/bin/python
ARENA := $(VENV)/bin/arena
# The install is redone only when the pins or the project metadata change.
# Tests sharing one expensive session fixture (a built book, a Docker engine, the measured
# cohort and its browser check) run after the rest, which runs on both cores, in one process per
# fixture family. The two families share nothing and each leaves a core mostly idle (waiting
# on a browser, on pip inside a container), so they run side by side.
BROWSER_AREAS := tests/study_group/test_measure_cohort.py tests/book
DOCKER_AREAS := tests/images
SERIAL_AREAS := $(BROWSER_AREAS) $(DOCKER_AREAS)
STAMP := $(VENV)/.installed
# Every chapter's re-checks of its committed organisms: the properties the pages rely on.
ORGANISM_TESTS = $(wildcard tests/chapter*/test_ch*_organism*.py)
# A second numerics path, as another machine takes it: ATen's AVX2 kernels (not AVX-512), oneDNN
# capped at AVX2, MKL's COMPATIBLE code path (honoured on Intel and AMD alike; MKL ignores
# MKL_CBWR=AVX2 on AMD) and one thread instead of two. No result may depend on which path runs.
OTHER_NUMERICS := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: help install book serve test test-numerics test-serial test-browser-areas test-docker-areas test-fast test-integration lint bench pins lock generate clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/*.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv and install the pinned environment (no-op when current)

book: install  ## Build the book, executing every page (CONFIG=smoke|default|full)
	$(ARENA) book build --config $(CONFIG)

serve: book  ## Serve the built book on 127.0.0.1
	$(ARENA) book serve --config $(CONFIG)

test: install  ## Everything CI runs: unit, meta, notebook, docker, browser and training tests
	scripts/system-deps.sh
	$(VENV)/bin/pytest -p no:cacheprovider -n 2 --durations=25 $(SERIAL_AREAS:%=--ignore=%)
	@$(MAKE) --no-print-directory test-numerics
	@$(MAKE) --no-print-directory test-serial

test-serial: install  ## The book, browser and Docker tests: two processes side by side, each report printed whole
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-browser-areas test-docker-areas

test-browser-areas:
	ARENA_BOOK_TEST_SECTIONS=all $(VENV)/bin/pytest -p no:cacheprovider --durations=10 $(BROWSER_AREAS)

test-docker-areas:
	$(VENV)/bin/pytest -p no:cacheprovider --durations=10 $(DOCKER_AREAS)

test-numerics: install  ## Reference solutions, stubs, mutants, smoke pages and organisms again, on another numerics path
	env $(OTHER_NUMERICS) $(VENV)/bin/pytest -p no:cacheprovider -n 2 --durations=10 tests/exercises/test_meta.py \
		$(ORGANISM_TESTS)

test-fast: install  ## Unit tests only (no notebooks, docker, browser or training)
	$(VENV)/bin/pytest -n 2 -m "not slow and not docker and not browser and not gpu"

test-integration: install  ## Only the slow, docker and browser tests
	scripts/system-deps.sh
	$(VENV)/bin/pytest -n 2 -m "slow or docker or browser or gpu" $(SERIAL_AREAS:%=--ignore=%)
	ARENA_BOOK_TEST_SECTIONS=all $(VENV)/bin/pytest -m "slow or docker or browser or gpu" $(SERIAL_AREAS)

lint: install  ## ruff check, ruff format --check, mypy on the non-exercise packages, hadolint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(ARENA) images lint

bench: install  ## Run the default configs and print the figures the issues ask for
	$(PY) scripts/bench.py

pins: install  ## Regenerate requirements/*.txt and environment.yml from pins.toml
	$(ARENA) pins sync

lock: install  ## Re-resolve every group's `requires` in a scratch venv and rewrite the locks in pins.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet $$($(PY) -c 'import tomllib; d=tomllib.load(open("pins.toml","rb")); print(" ".join(r for g in d["groups"].values() for r in g["requires"]))')
	$(ARENA) pins lock --python .lock-venv/bin/python
	$(ARENA) pins sync
	rm -rf .lock-venv

generate: install  ## Regenerate learner notebooks and solution modules from every source.md
	$(ARENA) generate

clean:  ## Remove build outputs (keeps .venv and your workspace/)
	rm -rf book/_build book/_generated build .bench

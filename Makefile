# One venv, torch installed first so that pip keeps the CPU build on this machine.
# GPU users: make install TORCH_SPEC="torch==2.5.1" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS ?= dev,curves
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Data: DEBIAS_DATA_DIR names a local copy; unset, files download once into the cache (debias/data/fetch.py).
# The tests (tests/conftest.py) and .ci/run point it at ../shared/data themselves.

.PHONY: install demo demo-quick readme-results test test-quick bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: $(STAMP)
	$(PY) -m debias.study +experiment=mini-suite

# One seed, two arms of the demo (control21, tail21): a first result in a few minutes.
demo-quick: $(STAMP)
	$(PY) -m debias.study +experiment=mini-quick

# docs/results.md's generated section, from the report `make demo` wrote: the power of its design first
# (benchmarks/stats_power.py writes power.json beside the report; a few minutes), then the section.
readme-results: $(STAMP)
	$(PY) benchmarks/stats_power.py runs/report/mini-0.5m-synthetic80
	$(PY) -m debias.eval.report.readme runs/report/mini-0.5m-synthetic80 docs/results.md

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

lint: $(STAMP)
	$(PY) -m ruff check debias train eval tests benchmarks

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache

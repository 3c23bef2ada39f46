# The two commands of the README: `make lab` (the main job) and `make test`.
# Each creates or updates .venv itself.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.loom-jupyter-installed

include mk/js.mk
include mk/lab.mk
include mk/hub.mk

.PHONY: venv lab local test test-python test-notebooks notebooks-refresh check bench clean

$(STAMP): pyproject.toml $(wildcard js/package.json js/package-lock.json)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## the main job: embedded local Loom server + JupyterLab wired to it
lab: venv
	$(VENV)/bin/loom-jupyter lab

## the embedded local Loom server alone
local: venv
	$(VENV)/bin/loom-jupyter local

## everything: Python suites (incl. browser and JupyterHub tests), then the tutorial notebooks under nbval
test: venv js labext hub-deps
	$(PY) -m pytest tests
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then $(MAKE) --no-print-directory test-notebooks; fi

## the tutorial notebooks under strict nbval, each against a fresh local server (notebooks/conftest.py)
test-notebooks: venv
	$(PY) -m pytest -p nbval --nbval --nbval-current-env notebooks --nbval-sanitize-with notebooks/sanitize.cfg -o addopts="" -o testpaths=notebooks

## re-execute the tutorial notebooks and store their outputs (what test-notebooks compares)
notebooks-refresh: venv
	$(PY) notebooks/refresh.py

check: venv
	$(VENV)/bin/ruff check loom_jupyter tests benchmarks
	$(VENV)/bin/mypy

## benchmarks: direct vs the extension vs jupyter-server-proxy (e.g. make bench BENCH_ARGS=--write)
bench: venv
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) js/node_modules loom_jupyter/widgets/static

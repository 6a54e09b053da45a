# The two commands a new user runs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A fixed torch pin: here it resolves to a local CPU wheel; on a CUDA machine PyPI serves the CUDA
# build of the same release. Override with e.g. `make TORCH_SPEC='torch>=2.4' demo`.
TORCH_SPEC ?= torch==2.13.0
# Tests run in PYTEST_WORKERS processes (pytest-xdist), one per core of the 2-core CI machine.
# CI skips the `slow` marker: every slow case has a faster twin that runs there.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) $(if $(CI),-m "not slow" --durations=25,)

.PHONY: demo test lint format typecheck lab bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev,distributed,gpu]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/polylab demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lab: $(VENV)/.installed-dev
	$(BIN)/pip install -q -e '.[notebooks]'
	$(BIN)/jupyter lab notebooks/

bench: $(VENV)/.installed
	$(BIN)/polylab bench

clean:
	rm -rf $(VENV) results/demo .pytest_cache .hypothesis

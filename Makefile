# One-command set-up: `make demo` runs the main job on the embedded synthetic city, `make test` runs
# the fast test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
# torch first, from a spec kept here: timm needs a matching torchvision.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin
DEMO_DIR ?= runs/demo

.PHONY: setup test test-slow lint demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel
	$(BIN)/pip install $(TORCH_SPEC)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -e '.[dev]'
	$(BIN)/python -c "import timm, torch, torchvision, rasterio, prefect; print('torch', torch.__version__, 'timm', timm.__version__)"
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(BIN)/ruff check sunet flows tests
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: setup
	$(BIN)/python -m pytest -m "slow" -q

demo: setup
	$(BIN)/lcz-map synth --out $(DEMO_DIR)/city

bench: setup
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache

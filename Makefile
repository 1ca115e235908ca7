# One-command set-up: `make demo` runs the main job on the embedded synthetic city, `make test` runs
# the fast test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
# torch first, from a spec kept here: timm needs a matching torchvision.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin
DEMO_DIR ?= runs/demo

.PHONY: setup test test-slow lint demo bench bench-gpu clean server deploy worker serve stop status run-demo run-example run-wuhan

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
	$(BIN)/ruff check sunet flows tests benchmarks
	$(BIN)/mypy

test: setup lint
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: setup
	$(BIN)/python -m pytest -m "slow" -q

# The whole pipeline on the synthetic city (not Wuhan: see README): generate, tile, train the
# cpu-small preset (~15 min on 2 cores), evaluate on the test split, map the five districts.
DEMO_PRESET ?= cpu-small
# On 2 cores, two single-thread data-parallel processes train 1.25x faster than one process with
# two threads (measured, README "Results"); on a larger machine give --nproc <cores> --threads 1.
# Maps are made from the abundance head, so pure patches train it too (README "Another city").
# The preset's 30 epochs are trained whatever the machine's speed (--max-minutes 0), so that the
# README's figures reproduce on any 2-core machine; on a slow or busy one it simply takes longer.
DEMO_TRAIN_ARGS ?= --nproc 2 --threads 1 --abundances-on-pure --max-minutes 0
demo: setup
	$(BIN)/lcz-map synth --out $(DEMO_DIR)/city
	$(BIN)/lcz-map tile --scenes $(DEMO_DIR)/city/scenes --labels $(DEMO_DIR)/city/labels.gpkg \
		--out $(DEMO_DIR)/patches --workers 2
	$(BIN)/lcz-map train --patches $(DEMO_DIR)/patches --out $(DEMO_DIR)/train --preset $(DEMO_PRESET) \
		$(DEMO_TRAIN_ARGS)
	$(BIN)/lcz-map evaluate --model $(DEMO_DIR)/train/model.safetensors --patches $(DEMO_DIR)/patches \
		--split test --out $(DEMO_DIR)/evaluation
	$(BIN)/lcz-map map --model $(DEMO_DIR)/train/model.safetensors --scenes $(DEMO_DIR)/city/scenes \
		--districts $(DEMO_DIR)/city/districts.gpkg --out $(DEMO_DIR)/maps
	$(BIN)/lcz-map parameters --map $(DEMO_DIR)/maps
	$(BIN)/lcz-map analyse --map $(DEMO_DIR)/maps
	@echo "demo outputs in $(DEMO_DIR): city/preview.png, evaluation/metrics.json, maps/<district>/," \
		"maps/analysis/index.html"

bench: setup
	$(BIN)/python -m benchmarks.run

# On a machine with an NVIDIA GPU: the paper model's training and mapping speed, and minutes to
# map Wuhan (README "GPU run"); under 5 min. `make bench-gpu BENCH_GPU_ARGS=--tiny` on a CPU.
BENCH_GPU_ARGS ?=
bench-gpu: setup
	$(BIN)/python -m benchmarks.gpu $(BENCH_GPU_ARGS)

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache

# --- Running as a service (Prefect) -------------------------------------------------------------
# A local Prefect server (SQLite under PREFECT_HOME; set PREFECT_API_DATABASE_CONNECTION_URL for
# PostgreSQL) on 127.0.0.1, and either a worker on a process pool (`make deploy worker`) or one
# process serving the deployments (`make serve`). PIDs go to $(PREFECT_HOME)/run/*.pid, logs to
# $(PREFECT_HOME)/logs/; `make stop` stops by PID. Then, with PREFECT_API_URL exported as printed
# by `make server`: prefect deployment run lcz-map/demo --watch
PREFECT_HOME ?= $(CURDIR)/.prefect
LCZ_PREFECT_PORT ?= 4200
LCZ_POOL ?= lcz
PREFECT_ENV = PREFECT_HOME=$(PREFECT_HOME) LCZ_PREFECT_PORT=$(LCZ_PREFECT_PORT) \
	PREFECT_API_URL=http://127.0.0.1:$(LCZ_PREFECT_PORT)/api PREFECT_SERVER_ANALYTICS_ENABLED=false

server: setup
	$(PREFECT_ENV) $(BIN)/python -m flows.services server
	@echo "export PREFECT_API_URL=http://127.0.0.1:$(LCZ_PREFECT_PORT)/api"

deploy: setup
	$(PREFECT_ENV) $(BIN)/python -m flows.deployments deploy --pool $(LCZ_POOL)

worker: setup
	$(PREFECT_ENV) $(BIN)/python -m flows.services worker --pool $(LCZ_POOL)

serve: setup
	$(PREFECT_ENV) $(BIN)/python -m flows.services serve

stop:
	$(PREFECT_ENV) $(BIN)/python -m flows.services stop

status:
	$(PREFECT_ENV) $(BIN)/python -m flows.services status

run-demo: setup
	$(PREFECT_ENV) $(BIN)/prefect deployment run lcz-map/demo --watch

run-example: setup
	$(PREFECT_ENV) $(BIN)/prefect deployment run lcz-map/example --watch

run-wuhan: setup
	$(PREFECT_ENV) $(BIN)/prefect deployment run lcz-map/wuhan --watch

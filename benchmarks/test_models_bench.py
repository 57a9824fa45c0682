"""Per-model benchmarks: the light ResNet-50 as a compiled whole graph (wasmops.graph), through wasmops.onnx
(plan runner and node-by-node step mode) and on onnxruntime's native CPU provider, one thread each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import wasmops.graph as wg
import wasmops.onnx as wo
from wasmops.bindings.graph_session import compiled_graph
from wasmops.models import light_model

ort = pytest.importorskip("onnxruntime")
MODELS = {"resnet50": 4.1e9 * 2}  # multiply-adds x 2
GRAPHS = Path(__file__).resolve().parents[1] / "build" / "graphs"


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, tmp_path_factory):
    proto = light_model(request.param)
    path = tmp_path_factory.mktemp("models") / f"{request.param}.onnx"
    onnx.save(proto, path)
    sess = wo.InferenceSession(proto)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    graph = wg.InferenceSession(compiled_graph(proto, GRAPHS, request.param))
    return request.param, path, {inp.name: x}, sess, graph


def _ort(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("engine", ["wasm-graph", "wasm-plan", "wasm-steps", "onnxruntime"])
def test_model(benchmark, model, engine):
    name, path, feeds, sess, graph = model
    run = {
        "wasm-graph": lambda: graph.run(None, feeds),
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

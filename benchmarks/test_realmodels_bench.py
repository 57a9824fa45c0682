"""Real trained models (tests/realmodels, fetched by `make realmodels`): op by op (the plan runner), the
compiled whole graph, onnxruntime's native CPU provider and onnxruntime-web's wasm build in Node, on one and
two threads, side by side in one run. Streaming models are timed on their first call."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops.graph as wg
import wasmops.onnx as wo
from tests.realmodels.catalog import MODELS
from tests.realmodels.fetch import cache_dir
from tests.realmodels.run import whole_graph_path

from . import peers
from .engines import wasm_threads

ort = pytest.importorskip("onnxruntime")
ENGINES = [
    ("wasm-plan", 1),
    ("wasm-graph", 1),
    ("onnxruntime", 1),
    ("ort-web", 1),
    ("wasm-plan", 2),
    ("wasm-graph", 2),
    ("onnxruntime", 2),
    ("ort-web", 2),
]


@pytest.fixture(scope="module", params=MODELS, ids=lambda m: m.name)
def real(request):
    model, cache = request.param, cache_dir()
    if not model.path(cache).exists():
        pytest.skip(f"{model.name} is not fetched: run `make realmodels` first")
    feeds = model.calls(cache)[0]
    return model, cache, feeds


@pytest.mark.parametrize("engine,threads", ENGINES, ids=[f"{e}-{t}t" for e, t in ENGINES])
def test_real_model(benchmark, real, engine, threads):
    model, cache, feeds = real
    name = f"{engine}-{threads}t" if engine == "ort-web" else f"{engine}-2t" if threads == 2 else engine
    benchmark.group = f"real {model.name}"
    benchmark.extra_info.update(case=f"real {model.name}", engine=name, flops=0, op=model.name, threads=threads)
    if engine == "ort-web":
        if not peers.node_available():
            pytest.skip("node / npm are not on PATH: no onnxruntime-web figures")
        result = peers.run_peer("ort-web", model.path(cache), threads, iters=10, warmup=2, feeds=feeds)
        benchmark.extra_info.update(external_median_s=result["median_ms"] / 1e3, peer=result)
        benchmark.pedantic(lambda: None, rounds=1)
        return
    if engine == "onnxruntime":
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
        sess = ort.InferenceSession(str(model.path(cache)), opts, providers=["CPUExecutionProvider"])
        run = lambda: sess.run(None, feeds)  # noqa: E731
    elif engine == "wasm-plan":
        plan = wo.InferenceSession(model.path(cache))
        run = lambda: plan.run(None, feeds)  # noqa: E731
    else:
        graph = wg.InferenceSession(whole_graph_path(model, cache))
        fed = {k: v for k, v in feeds.items() if k not in model.frozen}
        run = lambda: graph.run(None, fed)  # noqa: E731
    with wasm_threads(threads if engine.startswith("wasm") else 1):
        out = benchmark.pedantic(run, rounds=8, warmup_rounds=2)
    assert all(np.all(np.isfinite(o)) for o in out)

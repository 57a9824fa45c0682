"""Per-model benchmarks: the light ResNet-50 as a compiled whole graph (wasmops.graph), through wasmops.onnx
(plan runner and node-by-node step mode) and on onnxruntime's native CPU provider, one thread each; plus the
whole graph and onnxruntime on two threads ("-2t"), for the thread-scaling figure.

The transformer is wasmops.models.transformer_encoder: two BERT-base encoder layers, sequence 128."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

import wasmops.graph as wg
import wasmops.onnx as wo
from wasmops.bindings.graph_session import compiled_graph
from wasmops.models import light_model, transformer_encoder

from . import peers
from .engines import wasm_threads

ort = pytest.importorskip("onnxruntime")
#: multiply-adds x 2 per inference (published counts for these architectures at 224x224)
#: the encoder's per layer: 4 projections (4 x 2 x 128 x 768^2), attention (2 x 2 x 128^2 x 768), FFN
#: (2 x 2 x 128 x 768 x 3072): 1.86 GFLOP
MODELS = {"resnet50": 4.1e9 * 2, "densenet121": 2.9e9 * 2, "squeezenet": 0.86e9 * 2, "transformer": 3.7e9}
GRAPHS = Path(__file__).resolve().parents[1] / "build" / "graphs"


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, tmp_path_factory):
    proto = transformer_encoder() if request.param == "transformer" else light_model(request.param)
    path = tmp_path_factory.mktemp("models") / f"{request.param}.onnx"
    onnx.save(proto, path)
    sess = wo.InferenceSession(proto)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    graph = wg.InferenceSession(compiled_graph(proto, GRAPHS, request.param))
    hand = None  # hand schedules only: compiled when a tuning record applies to the model, else the same module
    if graph.manifest.get("tuned_convs") or graph.manifest.get("tuned_kernels"):
        hand = wg.InferenceSession(compiled_graph(proto, GRAPHS, request.param + "-hand", tuned=False))
    return request.param, path, {inp.name: x}, sess, graph, hand


#: threads per engine: wasmops' count (process-wide, set around the benchmark) or onnxruntime's intra-op pool
THREADS = {"wasm-graph-2t": 2, "wasm-graph-hand-2t": 2, "onnxruntime-2t": 2}
#: wasm-graph: the default compile (tuning records used where they match); wasm-graph-hand: hand schedules only
ENGINES = [
    "wasm-graph",
    "wasm-graph-2t",
    "wasm-graph-hand",
    "wasm-graph-hand-2t",
    "wasm-plan",
    "wasm-steps",
    "onnxruntime",
    "onnxruntime-2t",
]


def _ort(path, threads: int):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("engine", ENGINES)
def test_model(benchmark, model, engine):
    name, path, feeds, sess, graph, hand = model
    threads = THREADS.get(engine, 1)
    if engine.startswith("wasm-graph-hand") and hand is None:
        pytest.skip(f"no tuning record applies to {name}: its default compile is the hand-scheduled one")
    run = {
        "wasm-graph": lambda: graph.run(None, feeds),
        "wasm-graph-hand": lambda: hand.run(None, feeds),
        "wasm-plan": lambda: sess.run(None, feeds),
        "wasm-steps": lambda: sess.run_steps(None, feeds)[0],
        "onnxruntime": lambda: _ort_session(path, threads).run(None, feeds),
    }[engine.removesuffix("-2t")]
    benchmark.group = f"model {name}"
    benchmark.extra_info.update(case=f"model {name}", engine=engine, flops=MODELS[name], op=name, threads=threads)
    with wasm_threads(threads if engine.startswith("wasm") else 1):
        out = benchmark.pedantic(run, rounds=12, warmup_rounds=2)  # the warm-up also starts wasmops' workers
    assert np.all(np.isfinite(out[0]))


_SESSIONS: dict = {}


def _ort_session(path, threads: int):
    if (path, threads) not in _SESSIONS:
        _SESSIONS[path, threads] = _ort(path, threads)
    return _SESSIONS[path, threads]


PEERS = [("ort-web", 1), ("ort-web", 2), ("tfjs-wasm", 1), ("tfjs-wasm", 2)]


def _peer_case(model, engine: str) -> str:
    """The model's name, or a skip saying why this peer cannot run it here."""
    if not peers.node_available():
        pytest.skip("node / npm are not on PATH: no onnxruntime-web / TF.js peer figures")
    if engine == "tfjs-wasm" and model[0] != "resnet50":
        pytest.skip("TF.js cannot read ONNX: its peer builds ResNet-50 only")
    return model[0]


def _record(benchmark, name: str, engine: str, threads: int, median_s: float, **extra) -> None:
    """A figure timed outside pytest-benchmark (in Node, or interleaved): its median goes to extra_info
    (external_median_s), which the report reads in place of the placeholder timing."""
    benchmark.group = f"model {name}"
    benchmark.extra_info.update(
        case=f"model {name}", engine=engine, flops=MODELS[name], op=name, threads=threads, external_median_s=median_s
    )
    benchmark.extra_info.update(extra)
    benchmark.pedantic(lambda: None, rounds=1)


@pytest.mark.parametrize("engine,threads", PEERS, ids=[f"{e}-{t}t" for e, t in PEERS])
def test_model_peer(benchmark, model, engine, threads):
    """The wasm peers in Node (benchmarks/peers): timed inside Node, recorded next to the Python engines.

    pytest-benchmark cannot time another process's loop: the Node medians go into extra_info."""
    name = _peer_case(model, engine)
    result = peers.run_peer(engine, model[1], threads, iters=10, warmup=2)
    _record(benchmark, name, f"{engine}-{threads}t", threads, result["median_ms"] / 1e3, peer=result)


#: interleaved comparisons: blocks of BLOCK inferences, peer then wasmops, BLOCKS times
BLOCKS, BLOCK = 8, 3


@pytest.mark.parametrize("engine,threads", PEERS, ids=[f"{e}-{t}t" for e, t in PEERS])
def test_model_interleaved(benchmark, model, engine, threads):
    """The compiled graph and one peer timed in alternating blocks (the peer kept loaded in Node): both meet
    the same moments of a shared machine, so their ratio does not depend on when each ran. The two time
    lists go to extra_info; the report's interleaved table is their ratio of medians and of fastest runs."""
    name = _peer_case(model, engine)
    _, path, feeds, _, graph, _ = model
    ours: list[float] = []
    with wasm_threads(threads), peers.PeerServer(engine, path, threads) as peer:
        graph.run(None, feeds)  # warm-up: starts wasmops' workers
        theirs = []
        for _ in range(BLOCKS):
            theirs += peer.run(BLOCK)
            for _ in range(BLOCK):
                t0 = time.perf_counter()
                graph.run(None, feeds)
                ours.append((time.perf_counter() - t0) * 1e3)
    run = {"peer": engine, "threads": threads, "wasm_ms": ours, "peer_ms": theirs, "info": peer.summary}
    _record(
        benchmark, name, f"wasm-graph-vs-{engine}-{threads}t", threads, statistics.median(ours) / 1e3, interleaved=run
    )

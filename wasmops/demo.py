"""`make demo`: the project's main job, ResNet-50 run three ways, outputs compared, latency table printed.

The light ResNet-50 from the `onnx` package (seeded random weights) runs as one compiled whole-graph
`.wasm` (compiled once per machine into the cache folder, ~/.cache/wasmops/graphs), op by op on the op
library (wasmops.onnx), and on onnxruntime's native CPU provider, on one thread and on every core.
`wasmops demo lenet` is the small op-by-op tour: a LeNet-5 forward pass through the numpy API, checked
against the ops' numpy references.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import wasmops
from wasmops.ops import all_ops

RTOL, ATOL = 1e-4, 1e-5


def lenet_params(seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised LeNet-5 weights (fixed seed): 1x32x32 in, 10 classes out."""
    rng = np.random.default_rng(seed)

    def he(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "c1.w": he(6, 1, 5, 5),
        "c1.b": np.full(6, 0.01, np.float32),
        "c3.w": he(16, 6, 5, 5),
        "c3.b": np.full(16, 0.01, np.float32),
        "f5.w": he(120, 400),
        "f5.b": np.zeros(120, np.float32),
        "f6.w": he(84, 120),
        "f6.b": np.zeros(84, np.float32),
        "f7.w": he(10, 84),
        "f7.b": np.zeros(10, np.float32),
    }


def lenet_layers(p: dict[str, np.ndarray]) -> list[tuple[str, str, dict]]:
    """(label, op name, attributes) in order; weights are bound as extra positional inputs."""
    return [
        ("conv1 5x5 1->6", "conv2d", {"weight": p["c1.w"], "bias": p["c1.b"]}),
        ("relu1", "relu", {}),
        ("pool1 2x2", "max_pool2d", {"kernel_size": 2}),
        ("conv3 5x5 6->16", "conv2d", {"weight": p["c3.w"], "bias": p["c3.b"]}),
        ("relu3", "relu", {}),
        ("pool3 2x2", "max_pool2d", {"kernel_size": 2}),
        ("flatten", "flatten", {}),
        ("fc5 400->120", "dense", {"weight": p["f5.w"], "bias": p["f5.b"]}),
        ("relu5", "relu", {}),
        ("fc6 120->84", "dense", {"weight": p["f6.w"], "bias": p["f6.b"]}),
        ("relu6", "relu", {}),
        ("fc7 84->10", "dense", {"weight": p["f7.w"], "bias": p["f7.b"]}),
        ("softmax", "softmax", {}),
    ]


def _timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[np.ndarray, float]:
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def resnet50(repeat: int = 5, graph_dir: str | Path | None = None) -> int:
    import onnxruntime as ort

    import wasmops.graph as wg
    import wasmops.onnx as wo
    from wasmops.bindings.graph_session import compiled_graph
    from wasmops.kernels.module_cache import cache_dir
    from wasmops.models import light_model

    # the cache folder, not ./build: the demo may run from any folder (the module is ~460 MiB with weights)
    graph_dir = Path(graph_dir) if graph_dir is not None else cache_dir() / "graphs"
    model = light_model("resnet50")
    cores = wasmops.get_num_threads()
    print(f"ResNet-50 (onnx light model, seeded random weights), 1x3x224x224 float32, 1 and {cores} threads\n")
    t0 = time.perf_counter()
    path = compiled_graph(model, graph_dir, "resnet50")
    side = path.with_suffix(".weights")
    size = f"{path.stat().st_size >> 20} MiB" + (f" + {side.stat().st_size >> 20} MiB weights" if side.exists() else "")
    print(f"whole-graph module: {path} ({size}, ready in {time.perf_counter() - t0:.1f} s)")

    def ort_session(threads: int):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.log_severity_level = 3  # the light model's unused shape initializers would print a warning each
        return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    graph, steps = wg.InferenceSession(path), wo.InferenceSession(model)
    engines = {  # name -> (session, wasmops threads)
        "wasm whole graph": (graph, 1),
        f"wasm whole graph {cores}t": (graph, cores),
        "wasm op by op": (steps, 1),
        "onnxruntime native": (ort_session(1), 1),
        f"onnxruntime native {cores}t": (ort_session(cores), 1),
    }
    if cores == 1:
        engines = {k: v for k, v in engines.items() if not k.endswith("1t")}
    name = steps.get_inputs()[0].name
    feeds = {name: np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    results = {}
    try:
        for k, (sess, threads) in engines.items():
            wasmops.set_num_threads(threads)
            results[k] = _timed(lambda s=sess: s.run(None, feeds), repeat)
    finally:
        wasmops.set_num_threads(cores)
    ref = results["onnxruntime native"][0]
    header = f"{'engine':22s} {'median ms':>10s} {'vs onnxruntime':>15s} {'max |diff| logits':>18s}"
    print(f"\n{header} {'top-5 classes':>26s}")
    ok = True
    for k, (outs, t) in results.items():
        diff = float(np.max(np.abs(outs[-1] - ref[-1])))
        ok &= bool(np.allclose(outs[-1], ref[-1], rtol=1e-3, atol=1e-4) and np.allclose(outs[0], ref[0], 1e-3, 1e-4))
        top5 = np.argsort(outs[-1][0])[::-1][:5].tolist()  # from the logits (random weights saturate softmax)
        ratio = t / results["onnxruntime native"][1]
        print(f"{k:22s} {t * 1e3:10.1f} {ratio:14.2f}x {diff:18.2e} {str(top5):>26s}")
    print(f"\noutputs {'match' if ok else 'DO NOT match'} onnxruntime (rtol 1e-3, atol 1e-4)")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "lenet":
        return lenet()
    return resnet50()


def lenet(batch: int = 4, repeat: int = 20) -> int:
    x = np.random.default_rng(1).standard_normal((batch, 1, 32, 32)).astype(np.float32)
    ops = all_ops()
    rows = []
    act_wasm, act_ref = x, x
    for label, name, attrs in lenet_layers(lenet_params()):
        op_fn, ref_fn = getattr(wasmops, name), ops[name].reference
        act_wasm, t_wasm = _timed(lambda f=op_fn, a=act_wasm, kw=attrs: f(a, **kw), repeat)
        act_ref, t_ref = _timed(lambda f=ref_fn, a=act_ref, kw=attrs: f(a, **kw), repeat)
        rows.append((label, act_wasm.shape, t_wasm, t_ref, float(np.max(np.abs(act_wasm - act_ref)))))
    print(
        f"LeNet-5 forward, batch {batch}, op by op on {wasmops.Runtime.__module__.split('.')[0]} wasm kernels "
        f"(library: {wasmops.kernels.default_runtime().path.name})\n"
    )
    print(f"{'layer':18s} {'output shape':>16s} {'wasm us':>10s} {'numpy us':>10s} {'max |diff|':>11s}")
    for label, shape, t_wasm, t_ref, diff in rows:
        print(f"{label:18s} {str(shape):>16s} {t_wasm * 1e6:10.1f} {t_ref * 1e6:10.1f} {diff:11.2e}")
    total_wasm, total_ref = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'total':18s} {'':>16s} {total_wasm * 1e6:10.1f} {total_ref * 1e6:10.1f}")
    ok = np.allclose(act_wasm, act_ref, rtol=RTOL, atol=ATOL)
    print(f"\nclass probabilities (first image): {[round(float(p), 4) for p in act_wasm[0]]}")
    print(
        f"wasm output {'matches' if ok else 'DOES NOT match'} numpy (rtol {RTOL}, atol {ATOL}); "
        f"predicted classes {act_wasm.argmax(axis=1).tolist()}"
    )
    return 0 if ok else 1

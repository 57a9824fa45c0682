"""`make soak`: many mixed calls (numpy API, an op-by-op ONNX session, a compiled graph), every result checked
against numpy, with the process's resident memory and each module's wasm linear memory sampled as it goes.

    python -m tests.soak [--calls 100000] [--no-graph]

Prints a table of the samples; exits 1 if memory grew after warm-up (beyond a small allowance) or any
result was wrong. tests/test_soak.py runs a short version, and the threaded comparison.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import wasmops
import wasmops.onnx as wo
from wasmops.kernels import default_runtime

RNG = np.random.default_rng(3)
W = RNG.standard_normal((16, 8)).astype(np.float32)
B = RNG.standard_normal(8).astype(np.float32)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def model(batch: int | str) -> onnx.ModelProto:
    """x [batch, 16] -> Gemm(W, B) -> Relu -> Softmax: small, so the soak is about calls, not FLOPs."""
    nodes = [
        helper.make_node("Gemm", ["x", "w", "b"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Softmax", ["r"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "soak",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8])],
        [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def reference(x: np.ndarray) -> np.ndarray:
    h = np.maximum(x.astype(np.float64) @ W + B, 0)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def workload(graph_path: Path | None):
    """One mixed call at a time, each checked: returns (call(i) -> None, the modules whose memory to watch)."""
    sess = wo.InferenceSession(model("n"))
    graph = None
    if graph_path is not None:
        import wasmops.graph as wg

        graph = wg.InferenceSession(graph_path)
    xs = [RNG.standard_normal((n, 16)).astype(np.float32) for n in (1, 3, 4, 7)]
    refs = [reference(x) for x in xs]
    a = RNG.standard_normal((33, 17)).astype(np.float32)

    def call(i: int) -> None:
        x, want = xs[i % 4], refs[i % 4]
        kind = i % 5 if graph is not None else i % 4
        if kind == 0:
            got = wasmops.relu(x)
            ok = np.array_equal(got, np.maximum(x, 0))
        elif kind == 1:
            got = wasmops.matmul(a, a.T[:, : 5 + i % 7])
            ok = np.allclose(got, a @ a.T[:, : 5 + i % 7], rtol=1e-4, atol=1e-4)
        elif kind == 2:
            got = wasmops.softmax(x * (i % 3), axis=-1 if i % 2 else 0)
            z = np.exp(x * (i % 3) - (x * (i % 3)).max(axis=-1 if i % 2 else 0, keepdims=True))
            ok = np.allclose(got, z / z.sum(axis=-1 if i % 2 else 0, keepdims=True), rtol=1e-5, atol=1e-6)
        elif kind == 3:
            (got,) = sess.run(None, {"x": x})
            ok = np.allclose(got, want, rtol=1e-4, atol=1e-6)
        else:
            (got,) = graph.run(None, {"x": xs[2]})
            ok = np.allclose(got, refs[2], rtol=1e-4, atol=1e-6)
        if not ok:
            raise AssertionError(f"call {i} (kind {kind}) gave a wrong result")

    modules = {"op library": default_runtime().instances}
    if graph is not None:
        modules["compiled graph"] = graph.module.instances
    return call, modules


def soak(calls: int, graph_path: Path | None, samples: int = 10) -> tuple[list[list], bool]:
    """Run `calls` mixed calls; sample memory `samples` times. Returns (table rows, memory flat?)."""
    call, modules = workload(graph_path)
    rows, every = [], max(1, calls // samples)
    warm = max(every, calls // 10)
    for i in range(calls):
        call(i)
        if (i + 1) % every == 0 or i + 1 == calls:
            rows.append([i + 1, rss_mb(), *(len(m.view()) / 2**20 for m in modules.values())])
    after = [r for r in rows if r[0] >= warm]
    rss_growth = after[-1][1] - after[0][1]
    wasm_flat = all(r[2:] == after[0][2:] for r in after)
    flat = wasm_flat and rss_growth < 16  # MiB: allocator noise, not a leak of ~KiB per call
    header = ["calls", "resident MiB", *(f"{name} linear MiB" for name in modules)]
    return [header, *rows], flat


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--no-graph", action="store_true", help="skip the compiled graph (no TVM needed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = None
        if not args.no_graph:
            import wasmops.graph as wg

            path = wg.compile_graph(model(4), Path(tmp) / "soak.wasm", progress=False)
        rows, flat = soak(args.calls, path)
    header, *rows = rows
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    for r in rows:
        print(f"| {r[0]} | " + " | ".join(f"{v:.1f}" for v in r[1:]) + " |")
    print("memory flat after warm-up" if flat else "MEMORY GREW after warm-up")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())

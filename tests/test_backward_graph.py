"""Training ops inside a graph (a Program over TensorRefs, as the MindSpore backend and the ONNX sessions
build them): operands that live in wasm memory take the kernels that need no host rearrangement
(conv2d_backward_data's GEMM for a weight in wasm memory, dense_backward_weight through the 1x1 weight-
gradient GEMM), and a multi-output op gives its kept outputs and its last one. Each result must equal the
numpy API's (host-array path), itself checked against the references in tests/test_ops.py."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops
from wasmops.kernels.plan import Program
from wasmops.kernels.runtime import default_runtime
from wasmops.ops.spec import TensorRef
from wasmops.registry.graph import GraphBuilder


def run_graph(name: str, arrays: dict[str, np.ndarray], *args, **attrs):
    """op `name` recorded with the arrays of `arrays` as graph inputs (TensorRefs), other args constants."""
    g = GraphBuilder()
    g.label = name
    refs = {k: TensorRef(v.shape, v.dtype) for k, v in arrays.items()}
    out = g.op(name, *(refs.get(a, a) if isinstance(a, str) else a for a in args), **attrs)
    outs = out if isinstance(out, list) else [out]
    rt = default_runtime()
    with rt.lock:
        program = Program(rt, g.steps, refs, {f"y{i}": o for i, o in enumerate(outs)})
        try:
            result = program.run(arrays)
        finally:
            program.close()
    return [np.asarray(result[f"y{i}"]) for i in range(len(outs))]


@pytest.mark.parametrize(
    "xs,ws,s,p,g",
    [
        ((2, 4, 9, 8), (6, 4, 3, 3), 1, 1, 1),
        ((1, 4, 10, 9), (6, 2, 3, 3), 2, (0, 1, 1, 0), 2),
        ((1, 6, 8, 8), (6, 1, 3, 3), 2, 1, 6),
    ],
    ids=["3x3", "grouped-s2", "depthwise-s2"],
)
def test_conv2d_backward_data_with_weight_in_wasm_memory(xs, ws, s, p, g):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    dy = rng.standard_normal(wasmops.conv2d(x, w, None, s, p, 1, g).shape).astype(np.float32)
    want = wasmops.conv2d_backward_data(dy, w, xs, s, p, 1, g)
    (got,) = run_graph("conv2d_backward_data", {"dy": dy, "w": w}, "dy", "w", xs, s, p, 1, g)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_dense_backward_weight_with_dy_in_wasm_memory():
    rng = np.random.default_rng(1)
    dy, x = rng.standard_normal((2, 9, 10)).astype(np.float32), rng.standard_normal((2, 9, 33)).astype(np.float32)
    (got,) = run_graph("dense_backward_weight", {"dy": dy, "x": x}, "dy", "x")
    np.testing.assert_allclose(got, wasmops.dense_backward_weight(dy, x), rtol=1e-4, atol=1e-4)


def test_multi_output_op_in_a_graph():
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((4, 3, 5, 5)).astype(np.float32), rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    gamma = rng.standard_normal(3).astype(np.float32)
    _, mean, inv, _, _ = wasmops.batch_norm_train(x, gamma, gamma, np.zeros(3, np.float32), np.ones(3, np.float32))
    sums, dx = run_graph("batch_norm_backward", {"x": x, "dy": dy}, "x", "dy", gamma, mean, inv)
    want_dx, want_dgamma, want_dbeta = wasmops.batch_norm_backward(x, dy, gamma, mean, inv)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sums, np.stack([want_dgamma, want_dbeta]), rtol=1e-5, atol=1e-5)

"""kernels/graph_layout.py: constant-weight MatMuls compiled as 1x1 convs over the rows.

References: onnxruntime runs the original model (the rewritten ONNX must compute the same, rtol 1e-5; the
compiled graph rtol 1e-4), and the same graph compiled without the rewrite (its output must be bit for bit
the same: each output sums the same products in the same order).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from wasmops.kernels.graph_layout import matmul_as_conv

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for graph tests")

RNG = np.random.default_rng(7)


def _model(a_shape, weights: dict[str, np.ndarray], nodes, out="y") -> onnx.ModelProto:
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(a_shape))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _projection(a_shape, n: int = 64) -> onnx.ModelProto:
    """a @ W + b, relu, @ W2 (a second projection back to K), as a transformer's FFN is spelled."""
    k = a_shape[-1]
    w = {"w": RNG.standard_normal((k, n)) / k**0.5, "b": RNG.standard_normal(n), "w2": RNG.standard_normal((n, k))}
    nodes = [
        helper.make_node("MatMul", ["a", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"]),
    ]
    return _model(a_shape, w, nodes)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    return onnx.ModelProto.FromString(model.SerializeToString())


def _ort(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


@pytest.mark.parametrize("a_shape", [(1, 32, 48), (32, 48), (1, 128, 40)])
def test_rewritten_model_computes_the_same(a_shape):
    model = _projection(a_shape)
    rewritten = matmul_as_conv(_copy(model))
    ops = [n.op_type for n in rewritten.graph.node]
    assert "MatMul" not in ops and ops.count("Conv") == 2, ops
    assert {t.name for t in rewritten.graph.initializer}.isdisjoint({"w", "w2"}), "source weights shipped twice"
    feeds = {"a": RNG.standard_normal(a_shape).astype(np.float32)}
    np.testing.assert_allclose(_ort(rewritten, feeds), _ort(model, feeds), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "a_shape,why",
    [
        ((1, 8, 48), "too few rows: a GEMV"),
        ((1, 36, 48), "rows not a multiple of the 8-pixel tile"),
        ((2, 32, 48), "batch 2: the conv is batch 1"),
        ((1, 2, 32, 48), "rank 4"),
    ],
)
def test_other_matmuls_stay(a_shape, why):
    model = _projection(a_shape)
    assert [n.op_type for n in matmul_as_conv(_copy(model)).graph.node] == ["MatMul", "Add", "Relu", "MatMul"], why


def test_activation_matmuls_and_shared_weights():
    """a @ a^T (no constant) stays; a weight read by a rewritten MatMul and by another op is kept, and two
    MatMuls of one weight share one conv weight."""
    w = {"w": RNG.standard_normal((48, 48))}
    nodes = [
        helper.make_node("MatMul", ["a", "w"], ["p"]),
        helper.make_node("MatMul", ["p", "w"], ["q"]),
        helper.make_node("Transpose", ["a"], ["at"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "at"], ["s"]),
        helper.make_node("ReduceSum", ["w"], ["ws"], keepdims=0),
        helper.make_node("Add", ["s", "ws"], ["y"]),
    ]
    model = _model((1, 16, 48), w, nodes)
    rewritten = matmul_as_conv(_copy(model))
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("Conv") == 2 and ops.count("MatMul") == 1, ops
    conv_weights = {n.input[1] for n in rewritten.graph.node if n.op_type == "Conv"}
    assert len(conv_weights) == 1 and "w" in {t.name for t in rewritten.graph.initializer}
    feeds = {"a": RNG.standard_normal((1, 16, 48)).astype(np.float32)}
    np.testing.assert_allclose(_ort(rewritten, feeds), _ort(model, feeds), rtol=1e-5, atol=1e-4)


def test_compiled_graph_matches_onnxruntime_and_the_matmul_compile(tmp_path, monkeypatch):
    pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
    import wasmops.graph as wg
    from wasmops.kernels import graph_compiler

    model = _projection((1, 64, 96), n=128)
    feeds = {"a": RNG.standard_normal((1, 64, 96)).astype(np.float32)}
    conv = wg.InferenceSession(wg.compile_graph(model, tmp_path / "conv.wasm", progress=False))
    monkeypatch.setattr(graph_compiler, "matmul_as_conv", lambda m: m)
    plain = wg.InferenceSession(wg.compile_graph(model, tmp_path / "matmul.wasm", progress=False))
    got = conv.run(None, feeds)[0]
    np.testing.assert_allclose(got, _ort(model, feeds), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got, plain.run(None, feeds)[0])

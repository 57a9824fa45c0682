"""Whole graphs refuse what they cannot compute by naming the node, its operator and the reason, and compute
what TVM's importer alone would get wrong (checked against onnxruntime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import wasmops.graph as wg
from wasmops.kernels.graph_compiler import GraphCompileError

pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")


def _model(nodes, inputs, outputs, opset: int = 18, inits=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name: str, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _ort(model: onnx.ModelProto, feeds: dict) -> list:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_every_node_without_a_converter_is_named_at_once(tmp_path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="fine"),
        helper.make_node("Col2Im", ["a", "s", "s"], ["b"], name="first"),
        helper.make_node("DeformConv", ["b", "w", "o"], ["y"]),
    ]
    model = _model(nodes, [_vi("x", [1, 4, 4]), _vi("s", [2], TensorProto.INT64)], [_vi("y", None)], opset=22)
    with pytest.raises(GraphCompileError, match=r"node 'first' \(Col2Im\), node #2 \(DeformConv\)"):
        wg.compile_graph(model, tmp_path / "m.wasm", progress=False)


def test_a_converter_failure_names_its_node(tmp_path):
    node = helper.make_node("CumSum", ["x", "axis"], ["y"], name="running")
    model = _model([node], [_vi("x", [4]), _vi("axis", [], TensorProto.INT32)], [_vi("y", [4])])
    with pytest.raises(GraphCompileError, match=r"node 'running' \(CumSum\): TVM's ONNX importer cannot convert"):
        wg.compile_graph(model, tmp_path / "m.wasm", progress=False)


def test_unsupported_dtypes_and_training_mode_are_refused_by_name(tmp_path):
    cast = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)
    with pytest.raises(GraphCompileError, match="output 'y' has dtype bfloat16"):
        wg.compile_graph(_model([cast], [_vi("x", [3])], [_vi("y", [3], TensorProto.BFLOAT16)]), tmp_path / "a.wasm")
    drop = helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")
    inits = [helper.make_tensor("r", TensorProto.FLOAT, [], [0.5]), helper.make_tensor("t", TensorProto.BOOL, [], [1])]
    model = _model([drop], [_vi("x", [3])], [_vi("y", [3])], inits=inits)
    with pytest.raises(GraphCompileError, match=r"node 'drop' \(Dropout\): training-mode"):
        wg.compile_graph(model, tmp_path / "b.wasm", progress=False)


def test_libm_functions_and_optional_outputs_match_onnxruntime(tmp_path):
    """Cos / Atanh / Gelu compile without libm; LayerNormalization's Mean and InvStdDev keep their shapes;
    a zero-size input is static and still a feed."""
    nodes = [
        helper.make_node("Cos", ["x"], ["c"]),
        helper.make_node("Atanh", ["t"], ["h"]),
        helper.make_node("Gelu", ["x"], ["g"]),
        helper.make_node("LayerNormalization", ["x", "scale"], ["ln", "mean", "inv"], axis=1),
        helper.make_node("Concat", ["x", "empty"], ["cat"], axis=1),
    ]
    inputs = [_vi("x", [2, 3, 4]), _vi("t", [5]), _vi("empty", [2, 0, 4])]
    outputs = [_vi("c", [2, 3, 4]), _vi("h", [5]), _vi("g", [2, 3, 4]), _vi("ln", [2, 3, 4])]
    outputs += [_vi("mean", [2, 1, 1]), _vi("inv", [2, 1, 1]), _vi("cat", [2, 3, 4])]
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [3, 4], np.linspace(0.5, 1.5, 12).tolist())
    model = _model(nodes, inputs, outputs, opset=20, inits=[scale])
    rng = np.random.default_rng(0)
    feeds = {
        "x": rng.standard_normal((2, 3, 4)).astype(np.float32) * 3,
        "t": np.linspace(-0.9, 0.9, 5).astype(np.float32),
        "empty": np.zeros((2, 0, 4), np.float32),
    }
    sess = wg.InferenceSession(wg.compile_graph(model, tmp_path / "m.wasm", progress=False))
    for got, want in zip(sess.run(None, feeds), _ort(model, feeds), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_max_and_min_reductions_start_from_infinity(tmp_path):
    """A row of -inf reduces to -inf (a fully masked attention row), not to the largest finite float."""
    nodes = [
        helper.make_node("ReduceMax", ["x"], ["mx"], axes=[1], keepdims=0),
        helper.make_node("ReduceMin", ["x"], ["mn"], axes=[0, 2], keepdims=1),
    ]
    model = _model(nodes, [_vi("x", [2, 3, 4])], [_vi("mx", [2, 4]), _vi("mn", [1, 3, 1])], opset=13)
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    x[0, :, 1] = -np.inf
    x[:, 2, :] = np.inf
    sess = wg.InferenceSession(wg.compile_graph(model, tmp_path / "m.wasm", progress=False))
    for got, want in zip(sess.run(None, {"x": x}), _ort(model, {"x": x}), strict=True):
        np.testing.assert_array_equal(got, want)

"""ONNX sessions: the dtype layer, graph inputs used as attributes, host-side control flow; onnxruntime as reference."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import wasmops.onnx as wo


def _model(nodes, inputs, outputs, opset=18, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def _both(model, feeds):
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = wo.InferenceSession(model).run(None, feeds)
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    return got


def test_int64_index_beyond_int32_raises_naming_the_input():
    model = _model(
        [helper.make_node("Gather", ["t", "i"], ["y"])],
        [_vi("t", TensorProto.FLOAT, [10, 2]), _vi("i", TensorProto.INT64, [1])],
        [_vi("y", TensorProto.FLOAT, [1, 2])],
    )
    sess = wo.InferenceSession(model)
    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    with pytest.raises(OverflowError, match=r"input 'i': value 2147483653 \(int64\) does not fit int32"):
        sess.run(None, {"t": table, "i": np.array([2**31 + 5], np.int64)})
    (y,) = sess.run(None, {"t": table, "i": np.array([3], np.int64)})  # the session still works
    np.testing.assert_array_equal(y, table[[3]])


@pytest.mark.parametrize(
    "onnx_type, np_type",
    [
        (TensorProto.UINT8, np.uint8),
        (TensorProto.INT8, np.int8),
        (TensorProto.INT16, np.int16),
        (TensorProto.INT64, np.int64),
        (TensorProto.FLOAT16, np.float16),
    ],
)
def test_narrow_and_wide_dtypes_match_onnxruntime(onnx_type, np_type):
    model = _model(
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Mul", ["s", "b"], ["y"])],
        [_vi("a", onnx_type, [3, 4]), _vi("b", onnx_type, [4])],
        [_vi("y", onnx_type, [3, 4])],
    )
    rng = np.random.default_rng(0)
    feeds = {"a": rng.integers(0, 5, (3, 4)).astype(np_type), "b": rng.integers(0, 5, 4).astype(np_type)}
    _both(model, feeds)


def test_float64_is_refused_by_name():
    model = _model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [_vi("x", TensorProto.DOUBLE, [2])],
        [_vi("y", TensorProto.DOUBLE, [2])],
    )
    with pytest.raises(wo.UnsupportedError, match="graph input 'x': float64 is not supported"):
        wo.InferenceSession(model)


def test_inputs_used_as_attributes_specialise_the_program():
    model = _model(
        [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("ReduceSum", ["r", "axes"], ["y"])],
        [
            _vi("x", TensorProto.FLOAT, [2, 6]),
            _vi("shape", TensorProto.INT64, [2]),
            _vi("axes", TensorProto.INT64, [1]),
        ],
        [_vi("y", TensorProto.FLOAT, None)],
    )
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    sess = wo.InferenceSession(model)
    for shape, axes in (([3, 4], [1]), ([4, 3], [0]), ([3, 4], [0])):
        feeds = {"x": x, "shape": np.array(shape, np.int64), "axes": np.array(axes, np.int64)}
        (got,) = sess.run(None, feeds)
        np.testing.assert_allclose(got, x.reshape(shape).sum(axis=axes[0], keepdims=True))
    assert len(sess._programs) == 3  # one program per fed value


def test_if_on_an_input_runs_the_branch_it_picks():
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [_vi("t", TensorProto.FLOAT, [3])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e", TensorProto.FLOAT, [3])])
    model = _model(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        [_vi("c", TensorProto.BOOL, []), _vi("x", TensorProto.FLOAT, [3])],
        [_vi("y", TensorProto.FLOAT, [3])],
    )
    x = np.array([-1.0, 0.5, 2.0], np.float32)
    for flag in (True, False):
        _both(model, {"c": np.array(flag), "x": x})


def test_a_value_computed_at_run_time_is_refused_clearly():
    # an input of more than MAX_VALUE_INPUT (64) elements: a small one would be specialised on instead
    model = _model(
        [helper.make_node("Cast", ["x"], ["s"], to=TensorProto.INT64), helper.make_node("Reshape", ["x", "s"], ["y"])],
        [_vi("x", TensorProto.FLOAT, [100])],
        [_vi("y", TensorProto.FLOAT, None)],
    )
    with pytest.raises(wo.UnsupportedError, match="Reshape shape must be known before the run.*computed from tensor"):
        wo.InferenceSession(model)

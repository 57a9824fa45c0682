"""Issue 14: a compiled whole graph checks every index inside wasm (kernels/graph_index_checks.py). Each
index op gets valid indices (negative ones included: same answer as onnxruntime), then indices onnxruntime
refuses (one past either end, far out): an IndexError naming the step, the op and the valid range, never a
value read from past the tensor or a trap; then the same session answers correctly again. OneHot is not
refused by onnxruntime (an index outside [-depth, depth-1] is a row of off_value): it must match that."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
import wasmops.graph as wg  # noqa: E402

TABLE = np.arange(40, dtype=np.float32).reshape(10, 4)
#: op: (attributes, index shape, extra initializers, [valid index sets], [refused index sets])
CASES = {
    "Gather": ({"axis": 0}, [3], {}, [[0, -10, 9]], [[0, 10, 1], [1, 2, -11], [100_000, 0, 0], [2**31 + 5, 0, 0]]),
    "GatherElements": ({"axis": 0}, [2, 4], {}, [[[0, 9, -1, -10]] * 2], [[[0, 1, 10, 2]] * 2, [[-11, 0, 0, 0]] * 2]),
    "GatherND": ({}, [2, 2], {}, [[[9, 3], [-10, -4]]], [[[10, 0], [0, 0]], [[0, 4], [0, 0]], [[0, -5], [0, 0]]]),
    "ScatterElements": (
        {"axis": 0},
        [2, 4],
        {"u": np.ones((2, 4), np.float32)},
        [[[0, 9, -1, 3], [1, 2, -10, 4]]],
        [[[0, 10, 1, 1], [2, 2, 2, 2]], [[0, 0, 0, 0], [-11, 1, 1, 1]]],
    ),
    "ScatterND": ({}, [2, 1], {"u": np.ones((2, 4), np.float32)}, [[[9], [-10]]], [[[10], [0]], [[0], [-11]]]),
}


def _model(op: str):
    attrs, shape, extra, _, _ = CASES[op]
    inputs = ["t", "i", *extra]
    inits = [numpy_helper.from_array(TABLE, "t")] + [numpy_helper.from_array(v, k) for k, v in extra.items()]
    graph = helper.make_graph(
        [helper.make_node(op, inputs, ["y"], **attrs)],
        op,
        [helper.make_tensor_value_info("i", TensorProto.INT64, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("op", list(CASES))
def test_out_of_range_index_is_an_index_error_in_a_compiled_graph(op, tmp_path):
    model = _model(op)
    sess = wg.InferenceSession(wg.compile_graph(model, tmp_path / f"{op}.wasm", progress=False))
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _, _, _, valid, refused = CASES[op]
    good = {"i": np.array(valid[0], np.int64)}
    np.testing.assert_array_equal(sess.run(None, good)[0], ref.run(None, good)[0])
    for bad in refused:
        feed = {"i": np.array(bad, np.int64)}
        with pytest.raises(Exception, match="(?i)out of|bound|invalid"):  # onnxruntime refuses it (its words)
            ref.run(None, feed)
        with pytest.raises(IndexError, match=rf"step \d+ \(check_\w+\): .*{op}: index out of range, valid"):
            sess.run(None, feed)
        np.testing.assert_array_equal(sess.run(None, good)[0], ref.run(None, good)[0])  # still usable


def test_scalar_gather_index_is_checked(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Gather", ["t", "i"], ["y"], axis=1)],
        "g",
        [helper.make_tensor_value_info("i", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(TABLE, "t")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    sess = wg.InferenceSession(wg.compile_graph(model, tmp_path / "g.wasm", progress=False))
    np.testing.assert_array_equal(sess.run(None, {"i": np.array(-1, np.int64)})[0], TABLE[:, -1])
    with pytest.raises(IndexError, match=r"Gather: index out of range, valid: \[-4, 3\]"):
        sess.run(None, {"i": np.array(4, np.int64)})


def test_one_hot_out_of_range_is_off_value_as_onnxruntime(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("OneHot", ["i", "depth", "values"], ["y"], axis=-1)],
        "onehot",
        [helper.make_tensor_value_info("i", TensorProto.INT64, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array(5, np.int64), "depth"),
            numpy_helper.from_array(np.array([-1.0, 2.0], np.float32), "values"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    sess = wg.InferenceSession(wg.compile_graph(model, tmp_path / "onehot.wasm", progress=False))
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"i": np.array([0, 4, -1, -5, 5, 1 << 40], np.int64)}
    np.testing.assert_array_equal(sess.run(None, feed)[0], ref.run(None, feed)[0])

"""Bad inputs to the tensor ops fail before wasm with numpy-style errors naming the op; the library stays usable."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops

from .errors import assert_rejected

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
MASK = X > 10
IDX = np.array([1, 0], np.int32)


def _still_works() -> None:
    np.testing.assert_array_equal(wasmops.slice(X, [1], [3], [1]), X[:, 1:3])
    np.testing.assert_array_equal(wasmops.take(X, IDX, axis=2), np.take(X, IDX, axis=2))
    np.testing.assert_array_equal(wasmops.where(MASK, X, -X), np.where(MASK, X, -X))


BAD = [
    # (function, args, kwargs, exception, message fragment)
    ("erf", (X.astype(np.float64),), {}, TypeError, "float64"),
    ("erf", (X.astype(np.int32),), {}, TypeError, "int32"),
    ("slice", (X.astype(np.float64), [0], [1]), {}, TypeError, "float64"),
    ("slice", (X, [0, 1], [1]), {}, ValueError, "same length"),
    ("slice", (X, [0], [1]), {"axes": [0, 1]}, ValueError, "same length"),
    ("slice", (X, [0], [1]), {"steps": [0]}, ValueError, "must not be 0"),
    ("slice", (X, [0, 0], [1, 1]), {"axes": [1, -2]}, ValueError, "repeated axis"),
    ("slice", (X, [0], [1]), {"axes": [3]}, np.exceptions.AxisError, "out of bounds"),
    ("slice", (X, [0.5], [1]), {}, ValueError, "sequence of ints"),
    ("slice", (X, [[0]], [[1]]), {}, ValueError, "sequence of ints"),
    ("slice", (np.zeros((3,) * 8, np.float32), [0] * 8, [3] * 8), {"steps": [1, 2] * 4}, ValueError, "at most 6"),
    ("broadcast_to", (X, (3, 4)), {}, ValueError, "cannot broadcast"),
    ("broadcast_to", (X, (2, 5, 4)), {}, ValueError, "cannot broadcast"),
    ("broadcast_to", (X, (2, -3, 4)), {}, ValueError, "non-negative"),
    ("broadcast_to", (X, (2, 3.0, 4)), {}, ValueError, "sequence of ints"),
    ("broadcast_to", (X.astype(np.int64), (2, 3, 4)), {}, TypeError, "int64"),
    ("broadcast_to", (np.zeros((1, 2) * 4, np.float32), (2, 2) * 4), {}, ValueError, "at most 6"),
    ("take", (X, IDX.astype(np.float32)), {}, TypeError, "indices has dtype float32"),
    ("take", (X.astype(np.float64), IDX), {}, TypeError, "float64"),
    ("take", (X, IDX), {"axis": 3}, np.exceptions.AxisError, "out of bounds"),
    ("take", (X, IDX), {"axis": 1.0}, ValueError, "axis must be"),
    ("take", (np.float32(1.0), IDX), {}, np.exceptions.AxisError, "out of bounds"),
    ("take", (np.zeros((0, 3), np.float32), IDX), {}, ValueError, "empty axis"),
    ("cast", (X, "float64"), {}, TypeError, "cannot cast to float64"),
    ("cast", (X, "not-a-dtype"), {}, TypeError, "is not a dtype"),
    ("cast", (X.astype(np.uint8), "float32"), {}, TypeError, "uint8"),
    ("where", (MASK, X, X.astype(np.int32)), {}, TypeError, "different dtypes"),
    ("where", (MASK, X, X[:, :2]), {}, ValueError, "could not be broadcast"),
    ("where", (MASK.astype(np.uint8), X, X), {}, TypeError, "condition has dtype uint8"),
    ("where", (MASK, X.astype(np.int32), 0.5), {}, TypeError, "Python float"),
    ("where", (MASK, X.astype(np.float64), X), {}, TypeError, "float64"),
    ("where", (MASK, 2**40, X.astype(np.int32)), {}, OverflowError, "where"),
    (
        "where",
        (np.zeros((2, 1) * 3, bool), np.zeros((1, 2) * 3, np.float32), np.float32(0)),
        {},
        ValueError,
        "at most 5",
    ),
    ("logical_not", (X,), {}, TypeError, "float32"),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "exc", "fragment"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_raises_and_library_recovers(runtime, name, args, kwargs, exc, fragment):
    assert_rejected(name, args, kwargs, exc, fragment)
    _still_works()


@pytest.mark.parametrize("bad", [4, 2**31 - 1, -5, -(2**31)])
def test_out_of_range_indices_raise_on_the_host(runtime, bad):
    """Indices known on the host: IndexError naming the index, as numpy (never a clamped row)."""
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    with pytest.raises(IndexError, match=f"index {bad} is out of bounds for axis 0 with size 4"):
        wasmops.take(table, np.array([1, bad], np.int32))
    _still_works()


@pytest.mark.parametrize("bad", [10, -11, 100_000, -(2**31)])
def test_out_of_range_indices_in_wasm_fail_the_call(runtime, bad):
    """Indices that are a graph tensor are checked by the kernel before it reads (onnxruntime raises too)."""
    from onnx import TensorProto, helper

    import wasmops.onnx as wo
    from wasmops.kernels.runtime import KernelError

    vi = helper.make_tensor_value_info
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("Gather", ["t", "i"], ["y"])],
            "g",
            [vi("t", TensorProto.FLOAT, [10, 2]), vi("i", TensorProto.INT64, [2])],
            [vi("y", TensorProto.FLOAT, [2, 2])],
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    sess = wo.InferenceSession(model)
    table = np.arange(20, dtype=np.float32).reshape(10, 2)
    with pytest.raises(KernelError, match=r"Gather.*index is out of range"):
        sess.run(None, {"t": table, "i": np.array([0, bad], np.int64)})
    (y,) = sess.run(None, {"t": table, "i": np.array([-10, 9], np.int64)})  # the session still works
    np.testing.assert_array_equal(y, table[[0, 9]])

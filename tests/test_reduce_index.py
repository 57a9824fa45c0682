"""Reductions (min, prod), scan ops (cumsum, cumprod, argmax, argmin, topk_indices) and index ops
(take_along_axis, scatter_elements, gather_nd, scatter_nd) against their numpy references: edge shapes,
negative axes and indices, and out-of-range indices raising (on the host and inside wasm)."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops.numpy as wnp
from wasmops.kernels import KernelError
from wasmops.ops import all_ops

RNG = np.random.default_rng(7)


def _data(shape, dtype):
    if np.dtype(dtype) == np.float32:
        return RNG.standard_normal(shape).astype(np.float32)
    return RNG.integers(-5, 6, shape).astype(np.int32)


def _check(name: str, *args, **kw):
    got = getattr(wnp, name)(*args, **kw)
    want = all_ops()[name].reference(*args, **kw)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["min", "prod"])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((3, 1, 37), -1), ((5, 4, 6), (0, 2)), ((2, 33), 0), ((1,), None), ((4, 5, 3), 1)]
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_min_prod(name, dtype, shape, axis, keepdims):
    x = _data(shape, dtype)
    if name == "prod" and dtype == "float32":
        x = (1 + 0.05 * x).astype(np.float32)
    _check(name, x, axis=axis, keepdims=keepdims)


def test_min_nan_and_empty():
    x = np.array([[1.0, np.nan, -2.0], [3.0, 0.5, 4.0]], np.float32)
    got = wnp.min(x, axis=1)
    assert np.isnan(got[0]) and got[1] == 0.5
    with pytest.raises(ValueError, match="no identity"):
        wnp.min(np.zeros((2, 0), np.float32), axis=1)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize(("shape", "axis"), [((7,), 0), ((3, 5, 4), 1), ((2, 3), -1), ((2, 3, 1), None)])
@pytest.mark.parametrize(("exclusive", "reverse"), [(False, False), (True, False), (False, True), (True, True)])
def test_cumulative(name, dtype, shape, axis, exclusive, reverse):
    _check(name, _data(shape, dtype), axis=axis, exclusive=exclusive, reverse=reverse)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize(("shape", "axis"), [((6,), 0), ((3, 5, 4), 1), ((2, 7), -1), ((1, 1), 0), ((3, 4), None)])
@pytest.mark.parametrize("last", [False, True])
def test_arg_reduce(name, dtype, shape, axis, last):
    x = RNG.integers(0, 3, shape).astype(dtype)  # many ties
    _check(name, x, axis=axis, keepdims=True, select_last_index=last)
    _check(name, x, axis=axis, select_last_index=last)


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize(("shape", "axis", "k"), [((3, 4), 1, 2), ((5, 3, 2), 0, 5), ((6,), -1, 0), ((2, 9), -1, 9)])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_indices(dtype, shape, axis, k, largest):
    x = RNG.integers(-3, 4, shape).astype(dtype)  # ties go to the lower index
    _check("topk_indices", x, k, axis=axis, largest=largest)


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_take_along_axis(dtype):
    data = _data((3, 4, 5), dtype)
    for axis in (0, 1, -1):
        n = data.shape[axis]
        shape = list(data.shape)
        shape[axis] = 6
        shape[0] = min(shape[0], 2)  # indices may be smaller than data off the axis
        ind = RNG.integers(-n, n, shape).astype(np.int32)
        _check("take_along_axis", data, ind, axis=axis)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements(reduction):
    data = _data((4, 3), "float32")
    ind = np.array([[1, -1, 0], [3, 2, 0]], np.int32)
    upd = _data((2, 3), "float32")
    _check("scatter_elements", data, ind, upd, axis=0, reduction=reduction)
    _check("scatter_elements", data, ind[:, :2] % 3, upd[:, :2], axis=1, reduction=reduction)


@pytest.mark.parametrize("batch_dims", [0, 1])
def test_gather_nd(batch_dims):
    data = _data((2, 3, 4), "int32")
    ind = np.array([[[1, -1], [0, 2]], [[2, 3], [-3, 0]]], np.int32)
    if batch_dims == 0:
        ind = ind[..., :1] % 2
    _check("gather_nd", data, ind, batch_dims=batch_dims)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd(reduction):
    data = _data((4, 3, 2), "float32")
    ind = np.array([[1], [-1], [1]], np.int32)
    upd = _data((3, 3, 2), "float32")
    _check("scatter_nd", data, ind, upd, reduction=reduction)
    ind2 = np.array([[0, 2], [3, -3]], np.int32)
    _check("scatter_nd", data, ind2, _data((2, 2), "float32"), reduction=reduction)


def test_host_indices_out_of_range_raise():
    data = np.zeros((3, 4), np.float32)
    with pytest.raises(IndexError, match=r"take_along_axis: index 4 .* size 4"):
        wnp.take_along_axis(data, np.array([[4]], np.int32), axis=1)
    with pytest.raises(IndexError, match=r"gather_nd: index -4"):
        wnp.gather_nd(data, np.array([[-4, 0]], np.int32))
    with pytest.raises(IndexError, match="scatter_nd"):
        wnp.scatter_nd(data, np.array([[3]], np.int32), np.zeros((1, 4), np.float32))


@pytest.fixture
def session_of():
    """An ONNX session over one node, so indices arrive as a graph input (only known inside wasm)."""
    from onnx import TensorProto, helper

    import wasmops.onnx as wo

    def make(op_type: str, data_shape, ind_shape, **attrs):
        node = helper.make_node(op_type, ["data", "indices"], ["y"], **attrs)
        graph = helper.make_graph(
            [node],
            "g",
            [
                helper.make_tensor_value_info("data", TensorProto.FLOAT, data_shape),
                helper.make_tensor_value_info("indices", TensorProto.INT64, ind_shape),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        )
        return wo.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))

    return make


@pytest.mark.parametrize(
    ("op_type", "bad"), [("GatherElements", [[3, 0]]), ("GatherND", [[0, -5]]), ("GatherND", [[3, 0]])]
)
def test_runtime_index_out_of_range_raises(session_of, op_type, bad):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    ind = np.asarray(bad, np.int64)
    sess = session_of(op_type, data.shape, ind.shape)
    with pytest.raises(KernelError, match="index out of range"):
        sess.run(None, {"data": data, "indices": ind})
    ok = np.zeros_like(ind)
    sess.run(None, {"data": data, "indices": ok})  # the session still works after the error


def _one_node(op_type: str, inputs: dict, out_dtypes=(np.float32,), opset: int = 18, **attrs):
    """A one-node ONNX model over `inputs` (all graph inputs), run by wasmops and by onnx's reference."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    import wasmops.onnx as wo

    outs = [f"y{i}" for i in range(len(out_dtypes))]
    node = helper.make_node(op_type, list(inputs), outs, **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for k, v in inputs.items()
        ],
        [
            helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(np.dtype(d)), None)
            for o, d in zip(outs, out_dtypes, strict=True)
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    want = ReferenceEvaluator(model).run(None, inputs)
    got = wo.InferenceSession(model).run(None, inputs)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("op_type", "axes"),
    [("ReduceLogSumExp", [1]), ("ReduceL2", [-1]), ("ReduceL1", [0, 2]), ("ReduceMin", [1]), ("ReduceProd", [2])],
)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_onnx_reductions(op_type, axes, keepdims):
    x = (RNG.standard_normal((3, 4, 5)) * (30 if op_type == "ReduceLogSumExp" else 1)).astype(np.float32)
    _one_node(op_type, {"x": x, "axes": np.asarray(axes, np.int64)}, keepdims=keepdims)


@pytest.mark.parametrize("op_type", ["ReduceSum", "ReduceMin", "ReduceLogSum", "ReduceProd"])
def test_onnx_reduce_empty_set_and_noop(op_type):
    _one_node(op_type, {"x": np.zeros((2, 0, 4), np.float32), "axes": np.asarray([1], np.int64)})
    x = RNG.random((2, 3)).astype(np.float32) + 0.5
    _one_node(op_type, {"x": x, "axes": np.zeros((0,), np.int64)}, noop_with_empty_axes=1)


def test_onnx_top_k_ties_and_onehot():
    x = np.array([[3, 1, 3, 2, 1], [0, 0, 0, 0, 0]], np.float32)
    _one_node("TopK", {"x": x, "k": np.asarray([3], np.int64)}, out_dtypes=(np.float32, np.int64), opset=11)
    _one_node("TopK", {"x": x, "k": np.asarray([2], np.int64)}, out_dtypes=(np.float32, np.int64), opset=11, largest=0)
    ind = np.array([[0, -1, 2], [5, -7, 1]], np.int64)  # out-of-range one-hot indices give all-off rows
    vals = np.array([0.5, 2.0], np.float32)
    _one_node("OneHot", {"indices": ind, "depth": np.asarray(4, np.int64), "values": vals}, opset=11, axis=1)


def test_onnx_reverse_sequence_and_bad_length():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    lens = np.array([4, 1, 3, 2], np.int64)
    _one_node("ReverseSequence", {"x": x, "lens": lens}, batch_axis=0, time_axis=1)
    _one_node("ReverseSequence", {"x": x.T.copy(), "lens": lens}, batch_axis=1, time_axis=0)
    with pytest.raises(KernelError, match="index out of range"):
        _one_node("ReverseSequence", {"x": x, "lens": np.array([6, 1, 1, 1], np.int64)}, batch_axis=0, time_axis=1)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("last", [False, True])
def test_arg_reduce_nan_wins(name, last):
    x = np.array([[1.0, np.nan, 5.0, np.nan], [np.nan, 2.0, -1.0, 7.0], [0.0, 3.0, -2.0, 3.0]], np.float32)
    _check(name, x, axis=1, select_last_index=last)


def _ort_run(node, feeds: dict, opset: int = 18):
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra")
    from onnx import helper

    types = {np.dtype("float32"): 1, np.dtype("int64"): 7}
    inputs = [helper.make_tensor_value_info(k, types[v.dtype], v.shape) for k, v in feeds.items()]
    out_types = {"i": 7}  # TopK's indices are int64, every other output float32
    outputs = [helper.make_tensor_value_info(o, out_types.get(o, 1), None) for o in node.output]
    model = helper.make_model(
        helper.make_graph([node], "g", inputs, outputs), opset_imports=[helper.make_opsetid("", opset)]
    )
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("largest", [1, 0])
def test_topk_nan_and_signed_zeros_as_onnxruntime(largest):
    """Issue 14: NaN slots came back as index -1; onnxruntime ranks NaN above +inf, ties by index."""
    from onnx import helper

    x = np.float32([[3, np.nan, -0.0, 0.0, np.inf, np.nan, -np.inf, 1, -0.0], [np.nan] * 4 + [0.0] * 5])
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=-1, largest=largest)
    for k in (9, 4):
        _, want = _ort_run(node, {"x": x, "k": np.int64([k])})
        np.testing.assert_array_equal(wnp.topk_indices(x, k, largest=bool(largest)), want)
        np.testing.assert_array_equal(all_ops()["topk_indices"].reference(x, k, largest=bool(largest)), want)


@pytest.mark.parametrize("reduction", ["max", "min"])
def test_scatter_max_min_nan_as_onnxruntime(reduction):
    """Issue 14: the numpy reference spread NaN (np.maximum); onnxruntime and the kernel keep
    `old > new ? old : new`. Both scatter ops, both reductions, bit for bit (signed zeros too)."""
    from onnx import helper

    old = np.float32([1, np.nan, 3, -np.inf, np.nan, 0.0, -0.0, 2])
    new = np.float32([np.nan, 2, np.nan, 5, -0.0, 7, 0.0, 2])
    at = np.int64([0, 1, 2, 3, 5, 4, 6, 7])
    node = helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], axis=0, reduction=reduction)
    (want,) = _ort_run(node, {"d": old, "i": at, "u": new})
    nd = helper.make_node("ScatterND", ["d", "i", "u"], ["y"], reduction=reduction)
    (want_nd,) = _ort_run(nd, {"d": old, "i": at[:, None], "u": new})
    got = wnp.scatter_elements(old, at.astype(np.int32), new, axis=0, reduction=reduction)
    got_nd = wnp.scatter_nd(old, at[:, None].astype(np.int32), new, reduction=reduction)
    for g, w in ((got, want), (got_nd, want_nd)):
        np.testing.assert_array_equal(g, w)
        assert np.array_equal(np.signbit(g), np.signbit(w))

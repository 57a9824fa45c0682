"""ONNX LinearAttention, CausalConvWithState and TensorScatter (opsets 24-27) against the onnx reference.

Each graph is one node built with onnx.helper, fed odd shapes (grouped heads, several time steps, a carried
state, circular writes) that the conformance suite does not cover; unsupported attribute values must refuse.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import wasmops.onnx as wo
from wasmops.registry.table import UnsupportedError

ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(0)
F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(op: str, inputs: list[tuple[str, int, tuple]], outputs: list[str], opset: int, **attrs):
    node = helper.make_node(op, [name for name, _, _ in inputs], outputs, **attrs)
    ins = [helper.make_tensor_value_info(name, t, shape) for name, t, shape in inputs]
    outs = [helper.make_tensor_value_info(name, F32, None) for name in outputs]
    graph = helper.make_graph([node], "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _check(model, feeds: dict, atol: float = 1e-5) -> None:
    got = wo.InferenceSession(model).run(None, feeds)
    want = ReferenceEvaluator(model).run(None, feeds)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape, (g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=atol)


def _f32(*shape, scale: float = 1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---- LinearAttention ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "hq", "hkv", "decay_per_dim", "beta_heads", "past"),
    [
        ("linear", 2, 2, True, 1, False),
        ("gated", 6, 3, False, 1, True),
        ("delta", 4, 2, True, 2, True),
        ("gated_delta", 4, 1, True, 1, False),
        ("gated_delta", 6, 3, False, 3, True),
    ],
)
def test_linear_attention(rule, hq, hkv, decay_per_dim, beta_heads, past):
    b, t, dk, dv = 2, 3, 5, 3
    feeds = {
        "query": _f32(b, t, hq * dk),
        "key": _f32(b, t, hkv * dk, scale=0.3),
        "value": _f32(b, t, hkv * dv),
    }
    names = ["query", "key", "value"]
    if past:
        feeds["past_state"] = _f32(b, hkv, dk, dv)
        names.append("past_state")
    elif rule != "linear":
        names.append("")
    if rule in ("gated", "gated_delta"):
        feeds["decay"] = _f32(b, t, hkv * dk if decay_per_dim else hkv, scale=0.2) - 0.3
        names.append("decay")
    elif rule == "delta":
        names.append("")
    if rule in ("delta", "gated_delta"):
        feeds["beta"] = rng.random((b, t, beta_heads)).astype(np.float32)
        names.append("beta")
    inputs = [(name, F32, feeds[name].shape) for name in names if name]
    node = helper.make_node(
        "LinearAttention", names, ["out", "state"], q_num_heads=hq, kv_num_heads=hkv, update_rule=rule, scale=0.4
    )
    ins = [helper.make_tensor_value_info(name, t_, shape) for name, t_, shape in inputs]
    outs = [helper.make_tensor_value_info(name, F32, None) for name in ("out", "state")]
    model = helper.make_model(
        helper.make_graph([node], "g", ins, outs), opset_imports=[helper.make_opsetid("", 27)], ir_version=10
    )
    _check(model, feeds)


def test_linear_attention_refuses_missing_decay():
    shape = (1, 2, 8)
    model = _model(
        "LinearAttention",
        [("query", F32, shape), ("key", F32, shape), ("value", F32, shape)],
        ["out", "state"],
        27,
        q_num_heads=2,
        kv_num_heads=2,
        update_rule="gated",
    )
    with pytest.raises(UnsupportedError, match="decay"):
        wo.InferenceSession(model).run(None, {k: _f32(*shape) for k in ("query", "key", "value")})


# ---- CausalConvWithState --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("k", "length", "activation", "past"),
    [(3, 5, "none", True), (4, 1, "silu", True), (1, 6, "swish", False), (5, 2, "none", False)],
)
def test_causal_conv_with_state(k, length, activation, past):
    b, c = 2, 3
    feeds = {"input": _f32(b, c, length), "weight": _f32(c, 1, k), "bias": _f32(c)}
    if past:
        feeds["past_state"] = _f32(b, c, k - 1)
    inputs = [(name, F32, v.shape) for name, v in feeds.items()]
    _check(_model("CausalConvWithState", inputs, ["y", "state"], 27, activation=activation), feeds)


def test_causal_conv_refuses_unknown_activation():
    feeds = {"input": _f32(1, 2, 4), "weight": _f32(2, 1, 2)}
    model = _model(
        "CausalConvWithState", [(k, F32, v.shape) for k, v in feeds.items()], ["y", "state"], 27, activation="gelu"
    )
    with pytest.raises(UnsupportedError, match="activation"):
        wo.InferenceSession(model).run(None, feeds)


# ---- TensorScatter --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cache", "update", "axis", "mode", "starts"),
    [
        ((3, 2, 6, 4), (3, 2, 3, 4), -2, "circular", [4, 0, 5]),
        ((2, 5, 3), (2, 2, 3), 1, "linear", [3, 1]),
        ((2, 4, 7), (2, 4, 2), -1, "linear", [0, 5]),
    ],
)
def test_tensor_scatter(cache, update, axis, mode, starts):
    feeds = {"past": _f32(*cache), "update": _f32(*update), "write_indices": np.int64(starts)}
    inputs = [("past", F32, cache), ("update", F32, update), ("write_indices", I64, (len(starts),))]
    _check(_model("TensorScatter", inputs, ["present"], 24, axis=axis, mode=mode), feeds, atol=0)


def test_tensor_scatter_refuses_a_write_past_the_end():
    feeds = {"past": _f32(2, 4, 3), "update": _f32(2, 2, 3), "write_indices": np.int64([1, 3])}
    inputs = [("past", F32, (2, 4, 3)), ("update", F32, (2, 2, 3)), ("write_indices", I64, (2,))]
    with pytest.raises(UnsupportedError, match="outside"):
        wo.InferenceSession(_model("TensorScatter", inputs, ["present"], 24, axis=1)).run(None, feeds)


# ---- older operators newly covered ----------------------------------------------------------------------
def _one(op: str, inputs: list[tuple[str, np.ndarray]], outputs: list[str], opset: int, **attrs):
    types = {np.dtype(np.float32): F32, np.dtype(np.int64): I64, np.dtype(bool): TensorProto.BOOL}
    types[np.dtype(np.int32)] = TensorProto.INT32
    node = helper.make_node(op, [name for name, _ in inputs], outputs, **attrs)
    ins = [helper.make_tensor_value_info(name, types[v.dtype], v.shape) for name, v in inputs]
    outs = [helper.make_tensor_value_info(name, types[inputs[0][1].dtype], None) for name in outputs]
    graph = helper.make_graph([node], "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10), dict(inputs)


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_compress(axis):
    x = _f32(4, 5)
    cond = np.array([True, False, True, True] if axis == 0 else [False, True, False, True, True], bool)
    attrs = {} if axis is None else {"axis": axis}
    _check(*_one("Compress", [("x", x), ("c", cond)], ["y"], 11, **attrs), atol=0)


@pytest.mark.parametrize(("batch_axis", "time_axis"), [(0, 1), (1, 0)])
def test_reverse_sequence(batch_axis, time_axis):
    x = _f32(4, 5, 2) if batch_axis == 1 else _f32(5, 4, 2)  # (T, B, 2) or (B, T, 2)
    lens = np.int64([2, 4, 1, 4, 1] if batch_axis == 1 else [1, 4, 3, 2, 4])
    inputs = [("x", x), ("lens", lens)]
    _check(*_one("ReverseSequence", inputs, ["y"], 10, batch_axis=batch_axis, time_axis=time_axis), atol=0)


def test_eye_like_and_det():
    _check(*_one("EyeLike", [("x", _f32(3, 5))], ["y"], 9, k=-1), atol=0)
    for n in (1, 2, 3, 4):
        _check(*_one("Det", [("x", _f32(2, 3, n, n))], ["y"], 11), atol=1e-5)


def test_tile_with_many_repeated_axes():
    _check(*_one("Tile", [("x", _f32(2, 1, 3, 2, 2)), ("r", np.int64([2, 3, 1, 2, 2]))], ["y"], 13), atol=0)


def test_matmul_with_vectors():
    for a, b in [((5,), (5,)), ((5,), (2, 5, 3)), ((2, 4, 5), (5,))]:
        _check(*_one("MatMul", [("a", _f32(*a)), ("b", _f32(*b))], ["y"], 13))


def test_clip_integers_and_crossed_bounds():
    x = rng.integers(-50, 50, (3, 7)).astype(np.int32)
    _check(*_one("Clip", [("x", x), ("lo", np.int32(-5)), ("hi", np.int32(20))], ["y"], 13), atol=0)
    _check(*_one("Clip", [("x", _f32(9)), ("lo", np.float32(1)), ("hi", np.float32(-1))], ["y"], 13), atol=0)


def test_batch_norm_training_mode():
    x, stats = _f32(3, 4, 2, 5), [("s", _f32(4)), ("b", _f32(4)), ("m", _f32(4)), ("v", rng.random(4, np.float32))]
    model, feeds = _one("BatchNormalization", [("x", x), *stats], ["y", "rm", "rv"], 15, training_mode=1, momentum=0.8)
    _check(model, feeds)


def test_conv_transpose_output_shape_past_the_full_result():
    inputs = [("x", _f32(1, 2, 3, 3)), ("w", _f32(2, 3, 3, 3)), ("b", _f32(3))]
    model, feeds = _one("ConvTranspose", inputs, ["y"], 11, strides=[3, 2], output_shape=[11, 8])
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    np.testing.assert_allclose(wo.InferenceSession(model).run(None, feeds)[0], want[0], rtol=1e-5, atol=1e-5)


def test_scan_v8_batched_with_a_reverse_input():
    """Opset 8 Scan: the body sees one batch entry; a running sum forward, an echo of the reversed input."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x"], ["s_out"]), helper.make_node("Identity", ["r"], ["echo"])],
        "body",
        [helper.make_tensor_value_info(n, F32, [2]) for n in ("s_in", "x", "r")],
        [helper.make_tensor_value_info(n, F32, [2]) for n in ("s_out", "echo")],
    )
    node = helper.make_node(
        "Scan", ["", "s0", "xs", "xs"], ["s", "ys"], body=body, num_scan_inputs=2, directions=[0, 1]
    )
    shapes = {"s0": (3, 2), "xs": (3, 4, 2)}
    ins = [helper.make_tensor_value_info(n, F32, s) for n, s in shapes.items()]
    outs = [helper.make_tensor_value_info(n, F32, None) for n in ("s", "ys")]
    model = helper.make_model(
        helper.make_graph([node], "g", ins, outs), opset_imports=[helper.make_opsetid("", 8)], ir_version=8
    )
    feeds = {n: _f32(*s) for n, s in shapes.items()}
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for got, w in zip(wo.InferenceSession(model).run(None, feeds), want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("source", "to"),
    [
        (np.float32, TensorProto.INT32),
        (np.int32, TensorProto.FLOAT),
        (np.int8, TensorProto.UINT8),
        (np.uint16, TensorProto.INT16),
        (np.int16, TensorProto.UINT16),
    ],
)
def test_bitcast_then_cast_to_float(source, to):
    """The reinterpreted values must be right inside the graph, not only once cast to the declared output dtype."""
    info = np.iinfo(source) if np.dtype(source).kind in "iu" else None
    x = rng.integers(info.min, info.max, 40, endpoint=True).astype(source) if info else _f32(40)
    src = helper.np_dtype_to_tensor_dtype(np.dtype(source))
    nodes = [helper.make_node("BitCast", ["x"], ["b"], to=to), helper.make_node("Cast", ["b"], ["y"], to=F32)]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", src, [40])], [helper.make_tensor_value_info("y", F32, None)]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)], ir_version=10)
    _check(model, {"x": x}, atol=0)

"""ONNX neural-network composites (Attention, norms, losses, pooling / layout, Einsum, RotaryEmbedding)
against the ONNX reference implementation (numpy) on tiny graphs built with onnx.helper.

These operators are translators that chain existing ops, so the tests check the compositions: masks and
grouped-query heads in Attention, optional outputs, reductions and refusals.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import wasmops.onnx as wo

rng = np.random.default_rng(0)
_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(bool): TensorProto.BOOL,
}


def _model(op: str, feeds: dict, outputs: list[str], opset: int, **attrs):
    names = [k if v is not None else "" for k, v in feeds.items()]
    while names and not names[-1]:
        names.pop()
    node = helper.make_node(op, names, outputs, **attrs)
    ins = [helper.make_tensor_value_info(k, _TYPES[v.dtype], v.shape) for k, v in feeds.items() if v is not None]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs if o]
    graph = helper.make_graph([node], "g", ins, outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _check(op: str, feeds: dict, outputs: list[str], opset: int, atol: float = 1e-5, want=None, **attrs):
    model = _model(op, feeds, outputs, opset, **attrs)
    given = {k: v for k, v in feeds.items() if v is not None}
    got = wo.InferenceSession(model).run(None, given)
    if want is None:
        want = ReferenceEvaluator(model).run(None, given)
    for g, w in zip(got, want, strict=True):
        assert g.shape == np.shape(w), (g.shape, np.shape(w))
        np.testing.assert_allclose(g, np.asarray(w, np.float32), rtol=1e-4, atol=atol)


def _f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- Attention -------------------------------------------------------------------------------------------
def test_attention_gqa_causal_bool_mask_with_past():
    feeds = {
        "Q": _f32(2, 4, 3, 8),
        "K": _f32(2, 2, 3, 8),
        "V": _f32(2, 2, 3, 6),
        "mask": rng.random((3, 4)) > 0.3,  # shorter than past + new keys: padded as masked
        "past_k": _f32(2, 2, 2, 8),
        "past_v": _f32(2, 2, 2, 6),
    }
    _check("Attention", feeds, ["Y", "present_key", "present_value"], 23, is_causal=1)


@pytest.mark.parametrize("mode", [0, 2, 3])
def test_attention_3d_softcap_float_mask_qk_output(mode):
    feeds = {"Q": _f32(2, 4, 12), "K": _f32(2, 5, 12), "V": _f32(2, 5, 12), "mask": _f32(2, 1, 4, 5)}
    _check(
        "Attention",
        feeds,
        ["Y", "", "", "qk"],
        23,
        q_num_heads=3,
        kv_num_heads=3,
        softcap=2.0,
        scale=0.3,
        qk_matmul_output_mode=mode,
    )


def test_attention_nonpad_kv_seqlen_causal_window():
    feeds = {
        "Q": _f32(2, 2, 3, 4),
        "K": _f32(2, 1, 6, 4),
        "V": _f32(2, 1, 6, 4),
        "mask": None,
        "past_k": None,
        "past_v": None,
        "nonpad": np.array([5, 2], np.int64),  # batch 1: the causal frontier fully masks the first query
    }
    _check("Attention", feeds, ["Y"], 25, is_causal=1, left_window_size=1)


def test_attention_refuses_integer_softmax_precision():
    model = _model(
        "Attention",
        {"Q": _f32(1, 1, 2, 4), "K": _f32(1, 1, 2, 4), "V": _f32(1, 1, 2, 4)},
        ["Y"],
        23,
        softmax_precision=7,
    )
    with pytest.raises(wo.UnsupportedError, match="softmax_precision"):
        wo.InferenceSession(model).run(None, {"Q": _f32(1, 1, 2, 4), "K": _f32(1, 1, 2, 4), "V": _f32(1, 1, 2, 4)})


# ---- normalisation ---------------------------------------------------------------------------------------
def test_layer_norm_mean_and_inv_std_outputs():
    feeds = {"x": _f32(2, 3, 4), "scale": _f32(3, 4), "bias": _f32(3, 4)}
    _check("LayerNormalization", feeds, ["y", "mean", "inv_std"], 17, axis=1, epsilon=1e-3)


def test_rms_norm():
    _check("RMSNormalization", {"x": _f32(2, 3, 4), "scale": _f32(3, 4)}, ["y"], 23, axis=-2)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_norm(opset):
    c = 2 if opset == 18 else 6
    feeds = {"x": _f32(2, 6, 3, 2), "scale": _f32(c), "bias": _f32(c)}
    x, s, b = feeds.values()
    y = x.reshape(2, 2, -1)
    y = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + 1e-5)
    per = (1, 2, 1) if opset == 18 else None
    if opset == 18:
        want = (y * s.reshape(per) + b.reshape(per)).reshape(x.shape)
    else:
        want = y.reshape(x.shape) * s.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    _check("GroupNormalization", feeds, ["y"], opset, want=[want], num_groups=2)


def test_mean_variance_and_lp_norm():
    _check("MeanVarianceNormalization", {"x": _f32(2, 3, 4, 2)}, ["y"], 13, axes=[0, 2])
    x = _f32(3, 4)
    x[1] = 0  # zero norm: 0, not NaN
    _check("LpNormalization", {"x": x}, ["y"], 22, axis=0)
    want = x / np.maximum(np.abs(x).sum(1, keepdims=True), 1e-30)
    _check("LpNormalization", {"x": x}, ["y"], 22, want=[want], axis=1, p=1)


# ---- losses ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_nll_loss_weights_ignore_index(reduction):
    feeds = {"x": _f32(3, 5, 2), "t": rng.integers(0, 5, (3, 2)).astype(np.int64), "w": _f32(5)}
    _check("NegativeLogLikelihoodLoss", feeds, ["loss"], 22, reduction=reduction, ignore_index=1)


def test_softmax_cross_entropy_log_prob():
    feeds = {"x": _f32(4, 3, 2, 2), "t": rng.integers(0, 3, (4, 2, 2)).astype(np.int64)}
    _check("SoftmaxCrossEntropyLoss", feeds, ["loss", "log_prob"], 13, reduction="mean")


# ---- pooling, layout -------------------------------------------------------------------------------------
def test_pooling_and_block_layouts():
    x = _f32(1, 8, 4, 6)
    _check("GlobalMaxPool", {"x": x}, ["y"], 22)
    _check("LpPool", {"x": x}, ["y"], 22, kernel_shape=[3, 3], p=3, pads=[2, 2, 2, 2], dilations=[1, 2])
    _check("DepthToSpace", {"x": x}, ["y"], 13, blocksize=2, mode="CRD")
    _check("SpaceToDepth", {"x": x}, ["y"], 13, blocksize=2)


@pytest.mark.parametrize("include_pad", [0, 1])
def test_separable_pooling_3d_and_wide_pads(include_pad):
    x = _f32(1, 2, 5, 6, 7)
    attrs = dict(kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 1, 0, 1, 2, 1], dilations=[2, 1, 1])
    _check("MaxPool", {"x": x}, ["y"], 22, **attrs)
    _check("AveragePool", {"x": x}, ["y"], 22, count_include_pad=include_pad, **attrs)
    _check("LpPool", {"x": x}, ["y"], 22, p=2, **attrs)
    ceil = dict(kernel_shape=[3, 3, 3], strides=[2, 2, 2], dilations=[1, 2, 1], ceil_mode=1)  # one window past the end
    _check("MaxPool", {"x": x}, ["y"], 22, **ceil)
    _check("AveragePool", {"x": x}, ["y"], 22, count_include_pad=include_pad, **ceil)
    x2 = _f32(1, 2, 6, 6)  # pads beyond half the kernel: the 2-D kernels refuse them
    _check("MaxPool", {"x": x2}, ["y"], 22, kernel_shape=[3, 3], pads=[2, 2, 2, 2])
    _check("AveragePool", {"x": x2}, ["y"], 22, kernel_shape=[3, 3], pads=[2, 2, 2, 2], count_include_pad=include_pad)


@pytest.mark.parametrize("order", [0, 1])
def test_max_pool_indices(order):
    x = _f32(2, 3, 5, 6)
    x[0, 0, :2, :2] = -np.inf  # a window of -inf next to the padding: the index is a real element's
    attrs = dict(kernel_shape=[3, 2], pads=[1, 1, 2, 0], strides=[2, 1], storage_order=order)
    ort = pytest.importorskip("onnxruntime")
    for feeds, kw in (({"x": x}, attrs), ({"x": _f32(2, 3, 7)}, dict(kernel_shape=[3], pads=[1, 1]))):
        if len(kw["kernel_shape"]) == 1 and order:
            continue  # onnxruntime ignores storage_order for 1-D
        model = _model("MaxPool", feeds, ["y", "i"], 12, **kw)
        model.graph.output[1].type.tensor_type.elem_type = TensorProto.INT64
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
        got = wo.InferenceSession(model).run(None, feeds)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


# ---- Einsum, RotaryEmbedding -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "equation, shapes",
    [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("...ii->...i", [(2, 3, 3)]), ("ij,jk,kl", [(2, 3), (3, 4), (4, 2)])],
)
def test_einsum(equation, shapes):
    feeds = {f"x{i}": _f32(*s) for i, s in enumerate(shapes)}
    _check("Einsum", feeds, ["y"], 12, want=[np.einsum(equation, *feeds.values())], equation=equation)


@pytest.mark.parametrize("interleaved", [0, 1])
def test_rotary_embedding(interleaved):
    feeds = {
        "x": _f32(2, 3, 16),
        "cos": _f32(10, 2),
        "sin": _f32(10, 2),
        "ids": rng.integers(0, 10, (2, 3)).astype(np.int64),
    }
    _check("RotaryEmbedding", feeds, ["y"], 23, num_heads=2, rotary_embedding_dim=4, interleaved=interleaved)


@pytest.mark.parametrize("bad", [3, -1, 1000])
def test_loss_label_out_of_range_raises(bad):
    """A label outside [0, C) that is not ignore_index is an error, fed or constant (onnxruntime raises too)."""
    from wasmops.kernels import KernelError

    scores = _f32(2, 3)
    feeds = {"x": scores, "t": np.array([0, bad], np.int64)}
    sess = wo.InferenceSession(_model("NegativeLogLikelihoodLoss", feeds, ["y"], 13, ignore_index=7))
    with pytest.raises(KernelError, match="index out of range"):
        sess.run(None, feeds)
    ok = {"x": scores, "t": np.array([2, 7], np.int64)}  # 7 is ignored; the session still works
    (y,) = sess.run(None, ok)
    np.testing.assert_allclose(y, -scores[0, 2], rtol=1e-6)

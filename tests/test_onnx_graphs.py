"""Hand-built graphs with onnx.helper, each matched against onnxruntime: a MobileNetV2 inverted residual
block and a transformer encoder layer (embedding Gather, attention mask via Where/Expand, LayerNormalization
and its ReduceMean/Sub/Pow/Sqrt/Div decomposition, Softmax, Erf GELU, Transpose, Reshape)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops.onnx as wo

ort = pytest.importorskip("onnxruntime")
RTOL, ATOL = 1e-3, 1e-4
rng = np.random.default_rng(0)


def _init(name: str, *shape: int, scale: float = 0.1, dtype=np.float32) -> object:
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(dtype), name)


def _check(model, feeds):
    got = wo.InferenceSession(model).run(None, feeds)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    return got


def _model(nodes, inputs, outputs, inits, opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def test_mobilenet_v2_block():
    c, e = 16, 96  # expand 6x
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["h1"], kernel_shape=[1, 1]),
        helper.make_node("BatchNormalization", ["h1", "s1", "b1", "m1", "v1"], ["n1"]),
        helper.make_node("Clip", ["n1", "lo", "hi"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2"], ["h2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=e),
        helper.make_node("BatchNormalization", ["h2", "s2", "b2", "m2", "v2"], ["n2"]),
        helper.make_node("Clip", ["n2", "lo", "hi"], ["a2"]),
        helper.make_node("Conv", ["a2", "w3", "b3"], ["h3"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["h3", "x"], ["y"]),
    ]
    inits = [
        _init("w1", e, c, 1, 1, scale=0.3),
        _init("w2", e, 1, 3, 3, scale=0.3),
        _init("w3", c, e, 1, 1),
        _init("b3", c),
        numpy_helper.from_array(np.float32(0), "lo"),
        numpy_helper.from_array(np.float32(6), "hi"),
    ]
    for i, ch in ((1, e), (2, e)):
        inits += [
            _init(f"s{i}", ch, scale=1),
            _init(f"b{i}", ch),
            _init(f"m{i}", ch),
            numpy_helper.from_array(rng.uniform(0.5, 1.5, ch).astype(np.float32), f"v{i}"),
        ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    _check(model, {"x": rng.standard_normal((1, c, 28, 28)).astype(np.float32)})


def encoder_layer(batch: int = 2, seq: int = 16, hidden: int = 64, heads: int = 4, vocab: int = 100):
    """A BERT-style encoder layer from token ids and an attention mask to hidden states."""
    d = hidden // heads
    n = helper.make_node
    nodes = [
        n("Gather", ["emb", "ids"], ["e0"]),
        n("Add", ["e0", "pos"], ["e"]),
        # mask (batch, seq) int64 -> additive (batch, 1, 1, seq): where(mask == 0, -1e4, 0), expanded
        n("Equal", ["mask", "zero_i"], ["pad"]),
        n("Unsqueeze", ["pad", "ax12"], ["pad4"]),
        n("Where", ["pad4", "neg", "zero_f"], ["bias4"]),
        n("Expand", ["bias4", "score_shape"], ["mask_bias"]),
    ]
    for name in ("q", "k", "v"):
        nodes += [
            n("MatMul", ["e", f"w{name}"], [f"{name}0"]),
            n("Add", [f"{name}0", f"b{name}"], [f"{name}1"]),
            n("Reshape", [f"{name}1", "split_heads"], [f"{name}2"]),
            n("Transpose", [f"{name}2"], [f"{name}3"], perm=[0, 2, 3, 1] if name == "k" else [0, 2, 1, 3]),
        ]
    nodes += [
        n("MatMul", ["q3", "k3"], ["s0"]),
        n("Div", ["s0", "sqrt_d"], ["s1"]),
        n("Add", ["s1", "mask_bias"], ["s2"]),
        n("Softmax", ["s2"], ["p"], axis=-1),
        n("MatMul", ["p", "v3"], ["c0"]),
        n("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["c1", "merge_heads"], ["c2"]),
        n("MatMul", ["c2", "wo"], ["o0"]),
        n("Add", ["o0", "bo"], ["o1"]),
        n("Add", ["o1", "e"], ["r1"]),
        n("LayerNormalization", ["r1", "g1", "be1"], ["h1"], axis=-1, epsilon=1e-12),
        # feed-forward with exact GELU written out with Erf, then a decomposed layer norm
        n("MatMul", ["h1", "wf1"], ["f0"]),
        n("Add", ["f0", "bf1"], ["f1"]),
        n("Div", ["f1", "sqrt2"], ["f2"]),
        n("Erf", ["f2"], ["f3"]),
        n("Add", ["f3", "one"], ["f4"]),
        n("Mul", ["f1", "f4"], ["f5"]),
        n("Mul", ["f5", "half"], ["f6"]),
        n("MatMul", ["f6", "wf2"], ["f7"]),
        n("Add", ["f7", "bf2"], ["f8"]),
        n("Add", ["f8", "h1"], ["r2"]),
        n("ReduceMean", ["r2", "ax_last"], ["mu"], keepdims=1),
        n("Sub", ["r2", "mu"], ["dx"]),
        n("Pow", ["dx", "two"], ["dx2"]),
        n("ReduceMean", ["dx2", "ax_last"], ["var"], keepdims=1),
        n("Add", ["var", "eps"], ["ve"]),
        n("Sqrt", ["ve"], ["sd"]),
        n("Div", ["dx", "sd"], ["nz"]),
        n("Mul", ["nz", "g2"], ["y0"]),
        n("Add", ["y0", "be2"], ["y"]),
    ]
    f32 = lambda v, name: numpy_helper.from_array(np.asarray(v, np.float32), name)  # noqa: E731
    i64 = lambda v, name: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    inits = [_init("emb", vocab, hidden, scale=1.0), _init("pos", seq, hidden)]
    for name in ("q", "k", "v", "o"):
        inits += [_init(f"w{name}", hidden, hidden), _init(f"b{name}", hidden)]
    inits += [
        _init("wf1", hidden, 4 * hidden),
        _init("bf1", 4 * hidden),
        _init("wf2", 4 * hidden, hidden),
        _init("bf2", hidden),
        _init("g1", hidden, scale=1),
        _init("be1", hidden),
        _init("g2", hidden, scale=1),
        _init("be2", hidden),
        i64(0, "zero_i"),
        i64([1, 2], "ax12"),
        f32(-1e4, "neg"),
        f32(0, "zero_f"),
        i64([batch, heads, seq, seq], "score_shape"),
        i64([batch, seq, heads, d], "split_heads"),
        i64([batch, seq, hidden], "merge_heads"),
        f32(np.sqrt(d), "sqrt_d"),
        f32(np.sqrt(2), "sqrt2"),
        f32(1, "one"),
        f32(0.5, "half"),
        f32(2, "two"),
        f32(1e-12, "eps"),
        i64([-1], "ax_last"),
    ]
    inputs = [
        helper.make_tensor_value_info("ids", TensorProto.INT64, [batch, seq]),
        helper.make_tensor_value_info("mask", TensorProto.INT64, [batch, seq]),
    ]
    return _model(nodes, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=18)


def test_transformer_encoder_layer():
    ids = rng.integers(0, 100, (2, 16)).astype(np.int64)
    mask = np.ones((2, 16), np.int64)
    mask[1, 11:] = 0  # padding in the second sequence
    (y,) = _check(encoder_layer(), {"ids": ids, "mask": mask})
    assert y.shape == (2, 16, 64)

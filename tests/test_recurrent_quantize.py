"""ONNX LSTM / GRU / RNN and the quantized operators against onnxruntime, on tiny graphs built with onnx.helper.

The sequence X is the graph input (so the steps run on the wasm kernels); weights, biases, initial states,
sequence lengths and quantization parameters are initializers. Recurrent outputs sum float32 products in
another order than onnxruntime and use the library's tanh / sigmoid: 1e-4 relative plus 1e-5 absolute.
Quantized outputs are integers and must match exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops.onnx as wo
from wasmops.registry import onnx_recurrent  # noqa: F401 - registers the translators under test

ort = pytest.importorskip("onnxruntime")
rng = np.random.default_rng(0)
F32 = TensorProto.FLOAT


def _run(node, feeds: dict, inits: dict, outputs: list[str], opset=22, out_type=F32, reference=True):
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in feeds.items()],
        [helper.make_tensor_value_info(o, out_type, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    want = None
    if reference:
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = wo.InferenceSession(model).run(None, feeds)
    return got, want


def _close(got, want, rtol=1e-4, atol=1e-5):
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---- recurrent ------------------------------------------------------------------------------------------
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _recurrent(op: str, direction: str, batchwise: bool = False, seq_lens=None, peepholes=False, **attrs):
    """Run one layer on wasmops and onnxruntime. batchwise: wasmops runs the layout=1 form of the same layer
    (onnxruntime has no layout 1) and its outputs are moved back to layout 0 for the comparison."""
    steps, batch, inputs, hidden = 5, 3, 4, 6
    dirs = 2 if direction == "bidirectional" else 1
    gates = _GATES[op]
    inits = {
        "W": _f32(dirs, gates * hidden, inputs, scale=0.5),
        "R": _f32(dirs, gates * hidden, hidden, scale=0.5),
        "B": _f32(dirs, 2 * gates * hidden, scale=0.5),
    }
    names = ["X", "W", "R", "B", ""]
    if seq_lens is not None:
        inits["sequence_lens"], names[4] = np.asarray(seq_lens, np.int32), "sequence_lens"
    inits["initial_h"] = _f32(dirs, batch, hidden)
    names.append("initial_h")
    outputs = ["Y", "Y_h"]
    if op == "LSTM":
        inits["initial_c"] = _f32(dirs, batch, hidden)
        names.append("initial_c")
        outputs.append("Y_c")
        if peepholes:
            inits["P"] = _f32(dirs, 3 * hidden, scale=0.5)
            names.append("P")
    x = _f32(steps, batch, inputs)
    node = helper.make_node(op, names, outputs, hidden_size=hidden, direction=direction, **attrs)
    if not batchwise:
        return _run(node, {"X": x}, inits, outputs)
    _, want = _run(node, {"X": x}, inits, outputs)
    node = helper.make_node(op, names, outputs, hidden_size=hidden, direction=direction, layout=1, **attrs)
    for k in ("initial_h", "initial_c"):
        if k in inits:
            inits[k] = inits[k].transpose(1, 0, 2).copy()
    got, _ = _run(node, {"X": x.transpose(1, 0, 2).copy()}, inits, outputs, reference=False)
    return [got[0].transpose(1, 2, 0, 3)] + [s.transpose(1, 0, 2) for s in got[1:]], want


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_recurrent_directions(op, direction):
    _close(*_recurrent(op, direction))


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_recurrent_layout_and_sequence_lens(op):
    _close(*_recurrent(op, "bidirectional", batchwise=True, seq_lens=[5, 2, 4]))


def test_lstm_peepholes_clip_input_forget():
    _close(*_recurrent("LSTM", "forward", peepholes=True, clip=0.7, input_forget=1))
    _close(*_recurrent("LSTM", "reverse", peepholes=True, seq_lens=[1, 5, 3]))


def test_gru_linear_before_reset():
    _close(*_recurrent("GRU", "bidirectional", linear_before_reset=1, seq_lens=[3, 5, 1]))


@pytest.mark.parametrize(
    ("op", "acts", "alpha", "beta"),
    [
        ("RNN", ["Relu"], None, None),
        ("RNN", ["LeakyRelu"], [0.2], None),
        ("GRU", ["HardSigmoid", "Softsign"], [0.3], [0.4]),
        ("GRU", ["Sigmoid", "Elu"], [0.8], None),
        ("LSTM", ["Sigmoid", "ScaledTanh", "Affine"], [0.9, 0.5], [1.1, 0.2]),
        ("LSTM", ["HardSigmoid", "Softplus", "ThresholdedRelu"], [0.25, 0.1], [0.5]),
    ],
)
def test_recurrent_activations(op, acts, alpha, beta):
    attrs = {"activations": acts}
    if alpha is not None:
        attrs["activation_alpha"] = alpha
    if beta is not None:
        attrs["activation_beta"] = beta
    _close(*_recurrent(op, "forward", **attrs))


def test_recurrent_refuses_unknown_activation():
    node = helper.make_node("RNN", ["X", "W", "R"], ["Y"], hidden_size=2, activations=["Gelu"])
    feeds, inits = {"X": _f32(3, 1, 2)}, {"W": _f32(1, 2, 2), "R": _f32(1, 2, 2)}
    with pytest.raises(wo.UnsupportedError, match="activation 'gelu' is not supported"):
        _run(node, feeds, inits, ["Y"], reference=False)


def test_sequence_lens_fed_at_run_time():
    """sequence_lens as a graph input: the masks are computed inside wasm (`less`), per run."""
    hidden, feeds = 3, {"X": _f32(4, 3, 2), "sequence_lens": np.asarray([4, 1, 2], np.int32)}
    inits = {"W": _f32(1, 4 * hidden, 2), "R": _f32(1, 4 * hidden, hidden), "B": _f32(1, 8 * hidden)}
    node = helper.make_node(
        "LSTM",
        ["X", "W", "R", "B", "sequence_lens"],
        ["Y", "Y_h", "Y_c"],
        hidden_size=hidden,
        direction="reverse",
    )
    _close(*_run(node, feeds, inits, ["Y", "Y_h", "Y_c"]))


# ---- quantized ------------------------------------------------------------------------------------------
U8, I8, I16, I32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.INT16, TensorProto.INT32


def _graph(nodes, feeds: dict, inits: dict, outputs: dict, opset: int = 21, reference: bool = True):
    """A graph of `nodes` over `feeds`; outputs: name -> ONNX element type."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in feeds.items()],
        [helper.make_tensor_value_info(k, t, None) for k, t in outputs.items()],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    got = wo.InferenceSession(model).run(None, feeds)
    if not reference:
        return got, None
    return got, ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _exact(got, want):
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_array_equal(g, w)


def _ties(*shape, scale=0.5):
    """Values on and between rounding ties (k + 0.5) * scale, plus some beyond every 8-bit range."""
    x = (rng.integers(-300, 300, shape) + rng.choice([0.0, 0.5, 0.25], shape)) * scale
    return x.astype(np.float32)


@pytest.mark.parametrize(
    ("zp", "axis", "block"),
    [
        (np.asarray(128, np.uint8), 1, 0),
        (np.asarray([-3, 0, 5, 1], np.int8), 1, 0),
        (np.asarray([[7, -9], [0, 2], [100, -100]], np.int16), 1, 2),
        (np.asarray([[1, 2, 3, 4], [5, 6, 7, 8]], np.uint16), 0, 2),
    ],
)
def test_quantize_linear(zp, axis, block):
    x = _ties(3, 4)
    if zp.ndim == 0:
        scale = np.asarray(0.5, np.float32)
    elif block == 0:
        scale = np.asarray([0.5, 0.25, 1.0, 2.0], np.float32)
    else:
        scale = (rng.integers(1, 4, zp.shape) * 0.25).astype(np.float32)
    attrs = {"axis": axis} if block == 0 else {"axis": axis, "block_size": block}
    node = helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"], **attrs)
    out = helper.np_dtype_to_tensor_dtype(zp.dtype)
    _exact(*_graph([node], {"x": x}, {"s": scale, "zp": zp}, {"y": out}))


@pytest.mark.parametrize(("axis", "block"), [(1, 0), (0, 2), (1, 3)])
def test_quantize_dequantize_chain(axis, block):
    """DequantizeLinear on the int32 tensors QuantizeLinear leaves in wasm, per axis and per block."""
    x = _f32(4, 6, scale=40)
    n = x.shape[axis]
    shape = (n,) if block == 0 else tuple(-(-d // block) if i == axis else d for i, d in enumerate(x.shape))
    scale = (rng.integers(1, 5, shape) * 0.5).astype(np.float32)
    zp = rng.integers(-20, 20, shape).astype(np.int8)
    attrs = {"axis": axis} if block == 0 else {"axis": axis, "block_size": block}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], **attrs),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], **attrs),
    ]
    got, want = _graph(nodes, {"x": x}, {"s": scale, "zp": zp}, {"y": F32})
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 5, 3)])
def test_dynamic_quantize_linear(shape):
    x = _f32(*shape, scale=3)
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "scale", "zp"])
    got, want = _graph([node], {"x": x}, {}, {"y": U8, "scale": F32, "zp": U8})
    _exact(got, want)


def test_matmul_integer_chunks_long_sums():
    """K = 600 uint8 products pass 2**24: the sum is cut into exact chunks; per-column b zero points."""
    x = rng.uniform(0, 255, (3, 600)).astype(np.float32)
    b = rng.integers(0, 256, (600, 5)).astype(np.uint8)
    b_zp = rng.integers(0, 256, (5,)).astype(np.uint8)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "one", "azp"], ["a"]),
        helper.make_node("MatMulInteger", ["a", "b", "azp", "bzp"], ["y"]),
    ]
    inits = {"one": np.asarray(1.0, np.float32), "azp": np.asarray(3, np.uint8), "b": b, "bzp": b_zp}
    _exact(*_graph(nodes, {"x": x}, inits, {"y": I32}))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_matmul(dtype):
    lo = 0 if dtype == np.uint8 else -128
    x = _f32(2, 3, 8, scale=30)
    inits = {
        "sa": np.asarray(0.5, np.float32),
        "za": np.asarray(lo + 120, dtype),
        "b": rng.integers(lo, lo + 256, (8, 4)).astype(dtype),
        "sb": np.asarray(0.03, np.float32),
        "zb": np.asarray(lo + 128, dtype),
        "sy": np.asarray(0.7, np.float32),
        "zy": np.asarray(lo + 100, dtype),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sa", "za"], ["a"]),
        helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "sy", "zy"], ["y"]),
    ]
    got, want = _graph(nodes, {"x": x}, inits, {"y": F32})
    np.testing.assert_array_equal(got[0], want[0])


def test_qlinear_conv_and_conv_integer():
    x = _f32(1, 3, 6, 5, scale=20)
    w = rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    inits = {
        "sx": np.asarray(0.25, np.float32),
        "zx": np.asarray(131, np.uint8),
        "w": w,
        "sw": np.asarray([0.01, 0.02, 0.005, 0.03], np.float32),
        "zw": np.asarray([120, 128, 140, 127], np.uint8),
        "sy": np.asarray(0.9, np.float32),
        "zy": np.asarray(110, np.uint8),
        "bias": rng.integers(-5000, 5000, (4,)).astype(np.int32),
    }
    conv = {"pads": [1, 0, 1, 2], "strides": [1, 2]}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["q"]),
        helper.make_node("QLinearConv", ["q", "sx", "zx", "w", "sw", "zw", "sy", "zy", "bias"], ["qy"], **conv),
        helper.make_node("DequantizeLinear", ["qy", "sy", "zy"], ["y"]),
        helper.make_node("ConvInteger", ["q", "w", "zx"], ["acc"], pads=[1, 1, 1, 1]),
    ]
    got, want = _graph(nodes, {"x": x}, inits, {"y": F32, "acc": I32})
    _exact(got, want)


def test_quantize_refuses_int4():
    node = helper.make_node("QuantizeLinear", ["x", "s"], ["y"], output_dtype=TensorProto.INT4)
    feeds, inits = {"x": _f32(4)}, {"s": np.asarray(0.5, np.float32)}
    with pytest.raises(wo.UnsupportedError, match="int4 is not supported"):
        _graph([node], feeds, inits, {"y": I8}, reference=False)


def test_fed_8bit_tensors():
    """uint8 / int8 graph inputs (int32 inside wasm); a zero point fed as an input specialises the program."""
    x = rng.integers(0, 256, (2, 3, 4)).astype(np.uint8)
    scale, zp = np.asarray([0.5, 0.1, 2.0], np.float32), np.asarray([0, 128, 255], np.uint8)
    node = helper.make_node("DequantizeLinear", ["x", "s", "zp"], ["y"], axis=1)
    got, want = _graph([node], {"x": x, "zp": zp}, {"s": scale}, {"y": F32})
    np.testing.assert_array_equal(got[0], want[0])
    a, b = rng.integers(-128, 128, (5, 7)).astype(np.int8), rng.integers(-128, 128, (7, 3)).astype(np.int8)
    node = helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"])
    _exact(*_graph([node], {"a": a, "b": b}, {"za": np.asarray(-7, np.int8)}, {"y": I32}))

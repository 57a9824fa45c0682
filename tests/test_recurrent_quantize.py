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

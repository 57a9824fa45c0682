"""ONNX LRN, ConvTranspose, Resize, Upsample (and the Pad modes pad_mode implements) against onnxruntime.

Each graph is tiny and built with onnx.helper; the data is a graph input, so the node runs on the wasm
kernels (weights are initializers). Tolerances: nearest resizing and padding copy values (exact);
LRN ~1e-6 relative (float32 exp / log); ConvTranspose, linear and cubic resizing sum float32 products in
a different order than onnxruntime (1e-5 relative plus a small absolute term for cancellation).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops
import wasmops.onnx as wo
from wasmops.registry import onnx_nn_ops  # noqa: F401 - registers the translators under test

ort = pytest.importorskip("onnxruntime")
rng = np.random.default_rng(0)
F32 = TensorProto.FLOAT


def _model(node, shape, inits=(), opset: int = 17):
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", F32, shape)],
        [helper.make_tensor_value_info("y", F32, None)],
        [numpy_helper.from_array(v, k) for k, v in dict(inits).items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _check(model, x, rtol: float = 0.0, atol: float = 0.0):
    got = wo.InferenceSession(model).run(None, {"x": x})[0]
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert got.dtype == want.dtype and got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return got


def _f32(*shape):
    return rng.uniform(-3, 3, shape).astype(np.float32)


# ---- LRN ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "attrs"),
    [
        ((1, 96, 27, 27), {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}),  # AlexNet
        ((2, 7, 5, 3), {"size": 3, "alpha": 1.0, "beta": 0.5, "bias": 2.0}),
        ((1, 3, 6, 17), {"size": 7, "alpha": 2.0, "beta": 1.0}),  # window wider than the channels
        ((1, 1, 16, 1), {"size": 1, "alpha": 0.3, "beta": 1.3, "bias": 0.5}),
    ],
)
def test_lrn(shape, attrs):
    _check(_model(helper.make_node("LRN", ["x"], ["y"], **attrs), shape), _f32(*shape), rtol=2e-6, atol=1e-6)


# ---- ConvTranspose --------------------------------------------------------------------------------------
CONV_T = [
    ((1, 8, 5, 5), (8, 4, 4, 4), {"strides": [2, 2], "pads": [1, 1, 1, 1]}, True),
    ((2, 4, 5, 6), (4, 3, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 0]}, True),
    ((1, 4, 5, 6), (4, 3, 3, 3), {"strides": [2, 3], "pads": [0, 1, 2, 0]}, False),  # asymmetric pads
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "output_shape": [10, 9]}, True),  # odd totals: larger head
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "output_shape": [10, 9], "auto_pad": "SAME_UPPER"}, True),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, True),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}, True),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"strides": [3, 2], "auto_pad": "VALID"}, True),
    ((1, 6, 7, 4), (6, 2, 3, 2), {"strides": [2, 3], "dilations": [1, 2], "group": 3, "pads": [1, 0, 1, 0]}, True),
    ((1, 8, 9, 9), (8, 1, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "group": 8}, True),  # depthwise
    ((1, 5, 10, 20), (5, 4, 3, 3), {"pads": [1, 1, 1, 1], "kernel_shape": [3, 3]}, True),  # stride 1
    ((1, 5, 6, 6), (5, 4, 3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 1]}, True),
    ((1, 4, 9, 9), (4, 3, 3, 3), {"strides": [2, 2], "pads": [4, 3, 2, 1]}, True),  # large pads: fallback
    ((1, 3, 4, 4), (3, 5, 1, 1), {"strides": [2, 2]}, True),  # 1x1 kernel
    ((2, 4, 9), (4, 3, 5), {"strides": [3], "pads": [1, 2], "output_padding": [2]}, True),  # 1-D
]


@pytest.mark.parametrize(("xs", "ws", "attrs", "bias"), CONV_T, ids=[str(c[2]) for c in CONV_T])
def test_conv_transpose(xs, ws, attrs, bias):
    w = rng.uniform(-0.5, 0.5, ws).astype(np.float32)
    inits = {"w": w}
    if bias:
        inits["b"] = _f32(ws[1] * attrs.get("group", 1))
    node = helper.make_node("ConvTranspose", ["x", "w"] + (["b"] if bias else []), ["y"], **attrs)
    _check(_model(node, xs, inits), _f32(*xs), rtol=1e-5, atol=1e-5)


def test_conv_transpose_rejects_what_onnxruntime_rejects():
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[12, 12])
    with pytest.raises(wo.UnsupportedError, match="output_shape"):
        wo.InferenceSession(_model(node, (1, 2, 3, 3), {"w": _f32(2, 2, 3, 3)}))


# ---- Resize / Upsample ----------------------------------------------------------------------------------
def _resize_model(x_shape, attrs, scales=None, sizes=None, opset=13):
    inputs, inits = ["x"], {}
    if opset >= 11:
        inputs.append("")  # roi
    if scales is not None:
        inputs.append("scales")
        inits["scales"] = np.float32(scales)
    elif opset >= 11:
        inputs.append("")
    if sizes is not None:
        inputs.append("sizes")
        inits["sizes"] = np.int64(sizes)
    if opset == 11 and "" in inputs:  # opset 11 has no optional roi / scales: empty tensors
        inputs = ["x", "roi", "scales" if scales is not None else "noscales"] + (["sizes"] if sizes is not None else [])
        inits.update(roi=np.zeros(0, np.float32), noscales=np.zeros(0, np.float32))
    return _model(helper.make_node("Resize", inputs, ["y"], **attrs), x_shape, inits, opset)


COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"]


@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize(
    ("scales", "sizes"), [([1, 1, 2.0, 3.0], None), (None, [1, 2, 3, 11]), ([1, 1, 0.6, 1.7], None)]
)
def test_resize(coord, mode, scales, sizes):
    model = _resize_model((1, 2, 7, 5), {"mode": mode, "coordinate_transformation_mode": coord}, scales, sizes)
    tol = {} if mode == "nearest" else {"rtol": 1e-5, "atol": 1e-5}
    _check(model, _f32(1, 2, 7, 5), **tol)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
@pytest.mark.parametrize("coord", ["half_pixel", "asymmetric", "align_corners"])
def test_resize_nearest_modes(nearest_mode, coord):
    attrs = {"mode": "nearest", "nearest_mode": nearest_mode, "coordinate_transformation_mode": coord}
    for scales in ([1, 1, 2.0, 2.0], [1, 1, 0.5, 1.5], [1, 1, 3.0, 0.75]):
        _check(_resize_model((1, 3, 8, 6), attrs, scales), _f32(1, 3, 8, 6))


@pytest.mark.parametrize(("cubic_coeff_a", "exclude_outside"), [(-0.5, 0), (-0.75, 1), (-0.5, 1)])
def test_resize_cubic_attributes(cubic_coeff_a, exclude_outside):
    attrs = {"mode": "cubic", "cubic_coeff_a": cubic_coeff_a, "exclude_outside": exclude_outside}
    _check(_resize_model((2, 2, 6, 9), attrs, sizes=[2, 2, 13, 4]), _f32(2, 2, 6, 9), rtol=1e-5, atol=1e-5)


def test_resize_yolo_upsample_opset11():
    attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    _check(_resize_model((1, 256, 13, 13), attrs, [1, 1, 2, 2], opset=11), _f32(1, 256, 13, 13))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2.0, 2.0], [1, 1, 0.5, 0.75], [1, 1, 1.5, 0.6]])
def test_resize_opset10(mode, scales):
    tol = {} if mode == "nearest" else {"rtol": 1e-5, "atol": 1e-5}
    _check(_resize_model((1, 2, 8, 10), {"mode": mode}, scales, opset=10), _f32(1, 2, 8, 10), **tol)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_opset19_axes_and_symmetric_half_pixel(mode):
    node = helper.make_node(
        "Resize",
        ["x", "", "scales"],
        ["y"],
        mode=mode,
        axes=[2, 3],
        coordinate_transformation_mode="half_pixel_symmetric",
    )
    model = _model(node, (1, 2, 5, 7), {"scales": np.float32([1.7, 0.6])}, opset=19)
    _check(model, _f32(1, 2, 5, 7), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample(mode):
    tol = {} if mode == "nearest" else {"rtol": 1e-5, "atol": 1e-5}
    node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode=mode)
    _check(_model(node, (1, 3, 4, 5), {"scales": np.float32([1, 1, 2, 3])}, opset=9), _f32(1, 3, 4, 5), **tol)
    node7 = helper.make_node("Upsample", ["x"], ["y"], mode=mode, scales=[1.0, 1.0, 2.0, 1.5])
    _check(_model(node7, (1, 3, 4, 5), opset=7), _f32(1, 3, 4, 5), **tol)


# ---- Pad modes: pad_mode against onnxruntime's Pad -------------------------------------------------------
@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[0, 0, 2, 3, 0, 0, 1, 2], [1, 0, 0, 4, 0, 2, 3, 0]])
def test_pad_modes_match_onnxruntime(mode, pads):
    """pad_mode implements ONNX Pad's reflect / edge / wrap modes (the Pad translator calls it)."""
    x = _f32(2, 3, 5, 6)
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)
    model = _model(node, x.shape, {"pads": np.int64(pads)}, opset=19)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = wasmops.pad_mode(x, [(pads[i], pads[i + 4]) for i in range(4)], mode=mode)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil"])
@pytest.mark.parametrize("ulps", [1, 8, 16, 64])
def test_resize_nearest_near_ties(nearest_mode, ulps):
    """Coordinates a few ulps off a half: onnxruntime counts those within 1e-6 as ties, and so do we."""
    attrs = {"mode": "nearest", "nearest_mode": nearest_mode, "coordinate_transformation_mode": "asymmetric"}
    for toward in (0.0, 3.0):
        scale = np.float32(2.0)
        for _ in range(ulps):
            scale = np.nextafter(scale, np.float32(toward))
        _check(_resize_model((1, 2, 3, 9), attrs, [1, 1, 1, scale]), _f32(1, 2, 3, 9))

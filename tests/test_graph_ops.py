"""Whole-graph kernels beyond the light models: every conv variant of ops/_conv_static.py on awkward shapes
(Winograd on odd sizes, im2col, grid, grouped, dilated, asymmetric pads) with fused epilogues, and the
libm-free legalisations (exp, log, tanh, erf, sigmoid, pow, softmax, log-softmax), against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops.graph as wg

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")

RTOL, ATOL = 1e-4, 1e-5


def _model(nodes, inits, x_shape, out_name="y", opset=17):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, x, tmp_path, rtol=RTOL, atol=ATOL):
    path = wg.compile_graph(model, tmp_path / "m.wasm", progress=False)
    (got,) = wg.InferenceSession(path).run(None, {"x": x})
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return wg.InferenceSession(path).manifest


CONVS = {  # name: (x shape, weight shape, conv attributes)
    "winograd_odd_15x15": ((1, 16, 15, 15), (24, 16, 3, 3), dict(pads=[1, 1, 1, 1])),
    "winograd_no_pad": ((1, 32, 12, 10), (8, 32, 3, 3), dict(pads=[0, 0, 0, 0])),
    "im2col_stride2": ((1, 32, 17, 17), (20, 32, 3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2])),
    "grid_7x7_s2_stem": ((1, 3, 40, 36), (16, 3, 7, 7), dict(pads=[3, 3, 3, 3], strides=[2, 2])),
    "pointwise_odd_pixels": ((1, 24, 9, 7), (40, 24, 1, 1), dict()),
    "pointwise_stride2": ((1, 24, 14, 14), (36, 24, 1, 1), dict(strides=[2, 2])),
    "asymmetric_pads": ((1, 8, 11, 13), (12, 8, 3, 2), dict(pads=[0, 1, 2, 0])),
    "grouped": ((1, 12, 10, 10), (12, 4, 3, 3), dict(pads=[1, 1, 1, 1], group=3)),
    "depthwise": ((1, 8, 9, 9), (8, 1, 3, 3), dict(pads=[1, 1, 1, 1], group=8)),
    "depthwise_vector": ((1, 16, 14, 16), (16, 1, 3, 3), dict(pads=[1, 1, 1, 1], group=16)),
    "depthwise_stride2": ((1, 8, 31, 32), (8, 1, 3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2], group=8)),
    "grouped_vector": ((1, 12, 8, 8), (6, 6, 3, 3), dict(pads=[1, 1, 1, 1], group=2)),
    "dilated": ((1, 6, 13, 13), (5, 6, 3, 3), dict(pads=[2, 2, 2, 2], dilations=[2, 2])),
}


@pytest.mark.parametrize("name", list(CONVS))
def test_conv_variant_with_fused_epilogue(name, tmp_path):
    """conv + bias, then a residual-style add, ReLU: the epilogue fuses into the conv's output stage."""
    x_shape, w_shape, attrs = CONVS[name]
    rng = np.random.default_rng(0)
    w = rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))
    b = rng.standard_normal(w_shape[0])
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], **attrs),
        helper.make_node("Add", ["c", "shift"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    model = _model(nodes, {"w": w, "b": b, "shift": rng.standard_normal((w_shape[0], 1, 1))}, x_shape)
    x = rng.standard_normal(x_shape).astype(np.float32)
    manifest = _check(model, x, tmp_path)
    assert manifest["schedule_fallbacks"] == [], manifest["schedule_fallbacks"]


EPILOGUES = {  # conv output read by more than one op of the epilogue (issue: "used before its definition")
    "silu": [helper.make_node("Sigmoid", ["c"], ["s"]), helper.make_node("Mul", ["c", "s"], ["y"])],
    "hard_swish": [helper.make_node("HardSwish", ["c"], ["y"])],
    "hard_sigmoid_gate": [
        helper.make_node("HardSigmoid", ["c"], ["s"], alpha=1 / 6, beta=0.5),
        helper.make_node("Mul", ["c", "s"], ["y"]),
    ],
    "residual_silu": [
        helper.make_node("Add", ["c", "x"], ["r"]),
        helper.make_node("Sigmoid", ["r"], ["s"]),
        helper.make_node("Mul", ["r", "s"], ["y"]),
    ],
}


@pytest.mark.parametrize("name", list(EPILOGUES))
def test_conv_epilogue_reading_the_conv_twice(name, tmp_path):
    """YOLO / EfficientNet / MobileNetV3 epilogues fuse into the conv's output stage (no fallback)."""
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal((16, 16, 3, 3)) / 12, rng.standard_normal(16)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1])] + EPILOGUES[name]
    model = _model(nodes, {"w": w, "b": b}, (1, 16, 16, 16), opset=17 if name != "hard_swish" else 14)
    x = rng.standard_normal((1, 16, 16, 16)).astype(np.float32)
    manifest = _check(model, x, tmp_path)
    assert manifest["schedule_fallbacks"] == [], manifest["schedule_fallbacks"]


def test_libm_free_math_matches_onnxruntime(tmp_path):
    """wasm has no libm: these ops are legalised to the op library's polynomial / rational forms."""
    nodes = [
        helper.make_node("Tanh", ["x"], ["t"]),
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("Erf", ["x"], ["e"]),
        helper.make_node("Abs", ["x"], ["ax"]),
        helper.make_node("Add", ["ax", "one"], ["ax1"]),
        helper.make_node("Log", ["ax1"], ["l"]),
        helper.make_node("Pow", ["ax1", "p"], ["pw"]),
        helper.make_node("Exp", ["t"], ["ex"]),
        helper.make_node("Sum", ["s", "e", "l", "pw", "ex"], ["sum"]),
        helper.make_node("Softmax", ["sum"], ["sm"], axis=-1),
        helper.make_node("LogSoftmax", ["x"], ["ls"], axis=1),
        helper.make_node("Add", ["sm", "ls"], ["y"]),
    ]
    model = _model(nodes, {"one": np.array(1.0), "p": np.array(0.75)}, (2, 3, 8, 16))
    x = (np.random.default_rng(1).standard_normal((2, 3, 8, 16)) * 2).astype(np.float32)
    _check(model, x, tmp_path, rtol=1e-4, atol=2e-5)


MATMULS = {  # name: (x shape, weight shape (K, N), Gemm with transB and bias?)
    "tiled_panels": ((1, 6, 40), (40, 48), False),  # rows % 2 == 0, N % 16 == 0: register tiles over packed panels
    "ragged_panels": ((3, 5, 33), (33, 20), False),  # odd rows, N not a multiple of 16: the generic rule
    "narrow_unpacked": ((4, 24), (24, 12), False),  # N < 16: TVM's own matmul
    "gemv": ((1, 64), (64, 40), False),  # one row (a classifier)
    "gemm_transB_bias": ((8, 48), (32, 48), True),  # weight (N, K), transposed by the importer, then packed
}


@pytest.mark.parametrize("name", list(MATMULS))
def test_matmul_with_constant_weight(name, tmp_path):
    """MatMul / Gemm with a constant weight (packed into column panels at compile time) + a GELU-ish epilogue."""
    x_shape, w_shape, gemm = MATMULS[name]
    rng = np.random.default_rng(2)
    w = rng.standard_normal(w_shape) / np.sqrt(w_shape[-1 if gemm else 0])
    b = rng.standard_normal(w_shape[0] if gemm else w_shape[1])
    first = (
        helper.make_node("Gemm", ["x", "w", "b"], ["m"], transB=1)
        if gemm
        else helper.make_node("MatMul", ["x", "w"], ["m"])
    )
    nodes = [first, helper.make_node("Add", ["m", "b"], ["a"]), helper.make_node("Tanh", ["a"], ["y"])]
    model = _model(nodes, {"w": w, "b": b}, x_shape)
    x = rng.standard_normal(x_shape).astype(np.float32)
    _check(model, x, tmp_path)


def test_trig_beyond_8192_in_a_compiled_graph(tmp_path):
    """Issue 14: a graph's Sin / Cos / Tan reduce every float32 exactly (positional encodings reach past
    8192, where the float32 reduction lost bits). Reference: numpy in float64, whose reduction is exact."""
    nodes = [helper.make_node(op, ["x"], [op.lower()]) for op in ("Sin", "Cos", "Tan")]
    graph = helper.make_graph(
        nodes,
        "trig",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1000])],
        [helper.make_tensor_value_info(op, TensorProto.FLOAT, None) for op in ("sin", "cos", "tan")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    rng = np.random.default_rng(14)
    big = rng.integers(0x46000000, 0x7F7FFFFF, 1000, dtype=np.int64).astype(np.int32).view(np.float32)
    x = np.concatenate([big, rng.uniform(-10, 10, 1000).astype(np.float32)]) * np.sign(rng.random(2000) - 0.5)
    x = x.astype(np.float32).reshape(2, 1000)
    x[0, :3] = [16367173 * 2.0**72, 1e7, -3.4e38]
    outputs = wg.InferenceSession(wg.compile_graph(model, tmp_path / "trig.wasm", progress=False)).run(None, {"x": x})
    for name, got in zip(("sin", "cos", "tan"), outputs, strict=True):
        np.testing.assert_allclose(got, getattr(np, name)(x.astype(np.float64)), rtol=2e-6, atol=1e-7, err_msg=name)


WINOGRAD_TILES = {  # name: (output tile m, x shape, weight shape, pads)
    "m4_odd_15x15": (4, (1, 16, 15, 15), (24, 16, 3, 3), [1, 1, 1, 1]),
    "m4_asymmetric_pads": (4, (1, 20, 13, 9), (12, 20, 3, 3), [0, 1, 2, 0]),
    "m6_odd_11x17": (6, (1, 16, 11, 17), (8, 16, 3, 3), [1, 1, 1, 1]),
}


@pytest.mark.parametrize("name", list(WINOGRAD_TILES))
def test_winograd_larger_tiles(name, tmp_path, monkeypatch):
    """F(4x4, 3x3) and F(6x6, 3x3) (the tuner's alternatives to the default F(2x2, 3x3)) on sizes that are not
    a multiple of the tile, with the fused bias / residual-shift / ReLU epilogue and the load-time U = G g G^T."""
    from wasmops.ops import _conv_static as cs
    from wasmops.ops import _conv_winograd as cw

    m, x_shape, w_shape, pads = WINOGRAD_TILES[name]
    seen = []
    build = cw.winograd
    monkeypatch.setattr(cs, "WINOGRAD", m)
    monkeypatch.setattr(cw, "winograd", lambda *a: seen.append(a[-1].m) or build(*a))
    rng = np.random.default_rng(2)
    w = rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))
    b = rng.standard_normal(w_shape[0])
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=pads),
        helper.make_node("Add", ["c", "shift"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    model = _model(nodes, {"w": w, "b": b, "shift": rng.standard_normal((w_shape[0], 1, 1))}, x_shape)
    x = rng.standard_normal(x_shape).astype(np.float32)
    manifest = _check(model, x, tmp_path)
    assert seen == [m]
    assert manifest["schedule_fallbacks"] == [], manifest["schedule_fallbacks"]

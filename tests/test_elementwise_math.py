"""ops/unary_math.py and ops/binary_int.py against numpy at the edges: 0, -0, ±inf, nan, huge, tiny,
negative values, zero divisors and out-of-range shift counts. Tolerances are stated per op."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops
from wasmops.ops import all_ops

F32 = np.finfo(np.float32)
EDGES = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-30, -1e-30, F32.tiny, 1e-45, 30.0, -30.0, 88.0, 89.0, -89.0]
    + [1e4, -1e4, 8000.0, F32.max, -F32.max, np.inf, -np.inf, np.nan],
    np.float32,
)
#: (op, rtol in float32 ulps-ish, absolute floor): 2 ulp is 2.4e-7
UNARY = [
    ("sin", 1e-6, 1e-7, None),
    ("cos", 1e-6, 1e-7, None),
    ("tan", 2e-6, 1e-7, None),
    ("arcsin", 4e-7, 0, None),
    ("arccos", 4e-7, 0, None),
    ("arctan", 4e-7, 0, None),
    ("sinh", 5e-7, 0, None),
    ("cosh", 5e-7, 0, None),
    ("arcsinh", 4e-7, 0, None),
    ("arccosh", 4e-7, 0, None),
    ("arctanh", 4e-7, 0, None),
    ("reciprocal", 0, 0, None),
    ("floor", 0, 0, None),
    ("ceil", 0, 0, None),
    ("rint", 0, 0, None),
    ("sign", 0, 0, None),
    ("softsign", 2.5e-7, 0, None),
    ("mish", 1e-6, 1e-30, None),
    ("isnan", 0, 0, None),
    ("isinf", 0, 0, None),
]


def _inputs(limit):
    x = np.concatenate([EDGES, np.linspace(-1.2, 1.2, 241, dtype=np.float32), np.geomspace(1e-6, 1e6, 97).astype("f")])
    if limit is not None:  # trig: reduction is exact only below this; keep the edge values that are special
        x = x[~(np.abs(x) >= limit) | ~np.isfinite(x)]
    return x


@pytest.mark.parametrize(("op", "rtol", "atol", "limit"), UNARY, ids=[u[0] for u in UNARY])
def test_unary_edges(op, rtol, atol, limit, runtime):
    x = _inputs(limit)
    got = getattr(wasmops, op)(x)
    want = all_ops()[op].reference(x)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def test_trig_whole_float32_range(runtime):
    """Every exponent (issue 14: beyond 8192 the reduction lost bits, from ~1e7 sin left [-1, 1]), mixed with
    small values in the same 16-lane blocks, against numpy's float32 functions (exact reductions)."""
    rng = np.random.default_rng(14)
    big = rng.integers(0x46000000, 0x7F7FFFFF, 4096, dtype=np.int64).astype(np.int32).view(np.float32)
    x = np.where(rng.random(4096) < 0.5, big, rng.uniform(-10, 10, 4096).astype(np.float32)) * np.sign(
        rng.random(4096) - 0.5
    ).astype(np.float32)
    x[:3] = [16367173 * 2.0**72, 1e7, -3.4e38]
    for op in ("sin", "cos", "tan"):
        got = getattr(wasmops, op)(x)
        np.testing.assert_allclose(got, getattr(np, op)(x), rtol=2e-6, atol=1e-7, err_msg=op)
        if op != "tan":
            assert np.abs(got).max() <= 1


def test_two_over_pi_table():
    pytest.importorskip("tvm", reason="ops/_trig_reduce.py is build-time code (the [build] extra)")
    from wasmops.ops._trig_reduce import two_over_pi_chunks

    chunks = two_over_pi_chunks()
    assert chunks[:3] == [0xA2F983, 0x6E4E44, 0x1529FC]  # fdlibm's ipio2 starts so
    assert abs(sum(c * 2.0 ** (-24 * (k + 1)) for k, c in enumerate(chunks)) - 2 / np.pi) < 1e-16


def test_activations_with_attributes(runtime):
    x = _inputs(None)
    for op, attrs in [
        ("hard_sigmoid", {"alpha": 0.2, "beta": 0.5}),
        ("shrink", {"bias": 1.5, "lambd": 1.5}),
        ("thresholded_relu", {"alpha": 2.0}),
        ("celu", {"alpha": 1.0}),
        ("swish", {"alpha": 1.0}),
    ]:
        got, want = getattr(wasmops, op)(x, **attrs), all_ops()[op].reference(x, **attrs)
        # atol 1e-11: swish's sigmoid (topi.fast_tanh) saturates to 0 below about -44
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-11, equal_nan=True, err_msg=op)


def test_celu_alpha_zero_as_onnxruntime(runtime):
    """Issue 14: alpha = 0 gave NaN where the reference gave -0. ONNX defines Celu by its formula, and
    onnxruntime (like onnx's reference evaluator) evaluates x / 0 as written: NaN for x >= 0, 0 below."""
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra")
    from onnx import TensorProto, helper

    import wasmops.onnx as wo

    x = np.concatenate([EDGES, np.linspace(-3, 3, 31, dtype=np.float32)])
    node = helper.make_node("Celu", ["x"], ["y"], alpha=0.0)
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [x.size]) for n in "xy"]
    model = helper.make_model(
        helper.make_graph([node], "celu", info[:1], info[1:]), opset_imports=[helper.make_opsetid("", 13)]
    )
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(wasmops.celu(x, alpha=0.0), want)
    np.testing.assert_array_equal(wo.InferenceSession(model).run(None, {"x": x})[0], want)
    np.testing.assert_array_equal(all_ops()["celu"].reference(x, alpha=0.0), want)


def test_isinf_signs(runtime):
    for op in ("isposinf", "isneginf"):
        np.testing.assert_array_equal(getattr(wasmops, op)(EDGES), getattr(np, op)(EDGES))


def test_float_remainders_exact(runtime):
    a = np.array([-4.3, 7.2, 5, 4.3, -7.2, 8, 0, -0.0, -3, 3, 1e15, -1e20, 1e-30, np.inf, np.nan, 5, 1e3], np.float32)
    b = np.array([2.1, -3.4, 8, -2.1, 3.4, 5, -2, 2, np.inf, -np.inf, 3e-7, 7.0, 3.0, 2, 2, 0, 3e-7], np.float32)
    for op, fn in (("mod", np.mod), ("fmod", np.fmod)):
        got = getattr(wasmops, op)(a, b)
        with np.errstate(all="ignore"):
            want = fn(a, b)
        np.testing.assert_array_equal(got, want, err_msg=op)
        numbers = ~np.isnan(want)
        assert np.array_equal(np.signbit(got[numbers]), np.signbit(want[numbers])), op


def test_float_remainders_every_exponent_gap(runtime):
    """Issue 14: where x / y overflows float32 (exponent gaps up to 254 bits, subnormal divisors) the
    remainders were NaN; numpy's mod / fmod are exact there, and so must these be."""
    rng = np.random.default_rng(14)
    bits = rng.integers(0, 0x7F800000, (2, 20000), dtype=np.int64).astype(np.int32)
    a, b = (bits.view(np.float32) * np.where(rng.random((2, 20000)) < 0.5, -1, 1)).astype(np.float32)
    a[:4], b[:4] = [3.4e38, 2.0**50, -3.4e38, 1e-45], [1e-45, 3 * 2.0**-50, 3e-39, 1e-45]
    for op, fn in (("mod", np.mod), ("fmod", np.fmod)):
        with np.errstate(all="ignore"):
            want = fn(a, b)
        got = getattr(wasmops, op)(a, b)
        np.testing.assert_array_equal(got, want, err_msg=op)
        assert np.array_equal(np.signbit(got), np.signbit(want)), op


def test_integer_division_edges(runtime):
    imin = np.iinfo(np.int32).min
    a = np.array([7, -7, 7, -7, 5, imin, imin, 0, -1], np.int32)
    b = np.array([2, 2, -2, -2, 0, -1, 1, 3, 0], np.int32)
    np.testing.assert_array_equal(wasmops.trunc_divide(a, b), [3, -3, -3, 3, 0, imin, imin, 0, 0])
    with np.errstate(all="ignore"):
        for op in ("mod", "fmod"):
            np.testing.assert_array_equal(getattr(wasmops, op)(a, b), getattr(np, op)(a, b), err_msg=op)


def test_shifts(runtime):
    a = np.array([-8, 4, -1, 1, 1 << 30, -(1 << 30), 16], np.int32)
    b = np.array([-1, 32, 100, 31, 1, 1, 3], np.int32)
    np.testing.assert_array_equal(wasmops.left_shift(a, b), [0, 0, 0, -(1 << 31), -(1 << 31), -(1 << 31), 128])
    np.testing.assert_array_equal(wasmops.right_shift(a, b), [-1, 0, -1, 0, 1 << 29, -(1 << 29), 2])


def test_logical_broadcast(runtime):
    x, y = np.array([[True], [False]]), np.array([True, False, True])
    for op in ("logical_and", "logical_or", "logical_xor"):
        np.testing.assert_array_equal(getattr(wasmops, op)(x, y), getattr(np, op)(x, y), err_msg=op)

"""Cases of ops/unary_math.py and ops/binary_int.py: odd sizes over each function's useful range."""

from __future__ import annotations

import numpy as np

from . import Case, rand

_RANGES = {
    "sin": (-100, 100),
    "cos": (-100, 100),
    "tan": (-1.5, 1.5),
    "arcsin": (-1, 1),
    "arccos": (-1, 1),
    "arctan": (-50, 50),
    "sinh": (-80, 80),
    "cosh": (-80, 80),
    "arcsinh": (-1e4, 1e4),
    "arccosh": (1, 1e4),
    "arctanh": (-0.999, 0.999),
    "reciprocal": (-10, 10),
    "floor": (-50, 50),
    "ceil": (-50, 50),
    "rint": (-50, 50),
    "sign": (-3, 3),
    "hard_swish": (-8, 8),
    "softsign": (-20, 20),
    "mish": (-30, 30),
}
CASES = [Case(op, (rand(1003, low=lo, high=hi),), rtol=2e-6, atol=1e-7) for op, (lo, hi) in _RANGES.items()]
CASES += [
    # topi.fast_tanh is ~1e-7 absolute: where 1 + tanh cancels (x < -3) that is the error that shows
    Case("gelu_tanh", (rand(1003, low=-8, high=8),), rtol=1e-5, atol=1e-6),
    Case("hard_sigmoid", (rand(67, low=-8, high=8),), {"alpha": 0.2, "beta": 0.5}),
    Case("shrink", (rand(67),), {"bias": 0.5, "lambd": 1.0}),
    Case("thresholded_relu", (rand(67),), {"alpha": 1.0}),
    Case("celu", (rand(67, low=-5, high=5),), {"alpha": 2.0}, rtol=2e-6),
    # regression (issue 14): alpha = 0 is NaN for x >= 0 and 0 below, as onnxruntime evaluates ONNX's formula
    Case("celu", (np.float32([-2, -1e-30, -0.0, 0, 1e-45, 3, np.inf, -np.inf, np.nan]),), {"alpha": 0.0}, id="a0"),
    Case("swish", (rand(67, low=-10, high=10),), {"alpha": 1.5}),
    Case("sign", (rand(67, dtype="int32", low=-5, high=5),), id="i32"),
    Case("bitwise_not", (rand(67, dtype="int32", low=-1000, high=1000),)),
]
_SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e30], np.float32)
CASES += [Case(op, (_SPECIAL,)) for op in ("isnan", "isinf", "isposinf", "isneginf")]


def _every_float32(n: int, seed: int) -> np.ndarray:
    """n float32s spread over every exponent (random bit patterns, both signs) plus the hard cases."""
    bits = np.random.default_rng(seed).integers(0, 0xFF800000, n, dtype=np.int64).astype(np.uint32)
    hard = [8192.0, -8192.0, 8191.999, 1e7, -3.4e38, 16367173 * 2.0**72, 1.5e38, np.nan, np.inf, -0.0]
    return np.concatenate([bits.view(np.float32), np.float32(hard)])


# regression (issue 14): beyond |x| = 8192 the float32 reduction lost bits; from ~1e7 sin was outside [-1, 1]
CASES += [Case(op, (_every_float32(4000, 14),), rtol=2e-6, atol=1e-7, id="all_f32") for op in ("sin", "cos", "tan")]

_I = {"dtype": "int32", "low": -50, "high": 50}
CASES += [
    Case(op, (rand(7, 33, **_I), rand(33, seed=1, **_I)))
    for op in ("mod", "fmod", "trunc_divide", "bitwise_and", "bitwise_or", "bitwise_xor")
]
CASES += [
    Case("mod", (rand(5, 31, low=-100, high=100), rand(31, seed=3, low=-7, high=7)), id="f32", atol=0, rtol=0),
    Case("fmod", (rand(5, 31, low=-100, high=100), rand(5, 1, seed=3, low=-7, high=7)), id="f32", atol=0, rtol=0),
    Case("left_shift", (rand(40, **_I), rand(40, seed=2, dtype="int32", low=-3, high=40))),
    Case("right_shift", (rand(40, **_I), rand(40, seed=2, dtype="int32", low=-3, high=40))),
]
_B1, _B2 = rand(3, 17) > 0, rand(17, seed=5) > 0
CASES += [Case(op, (_B1, _B2)) for op in ("logical_and", "logical_or", "logical_xor")]

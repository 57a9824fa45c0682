"""Binary elementwise ops: every broadcast variant (vv / vs / sv), size-1 and empty dims, Python scalars,
model shapes (BERT bias add, ResNet per-channel scale) and numpy's special values for power / divide."""

import numpy as np

from . import Case, rand

OPS = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power"]
INT_OPS = ["add", "subtract", "multiply", "maximum", "minimum"]

# (x1 shape, x2 shape): same shape, x2 broadcast along the inner dim (vs), x1 broadcast (sv), both ways,
# odd sizes, size-1 dims, 0-d, empty, and the deepest pattern the rank-5 kernels take (5 alternating groups).
PAIRS = [
    ((7,), (7,)),
    ((1003,), (1003,)),
    ((2, 3, 5), (2, 3, 5)),
    ((4, 17), (17,)),
    ((4, 17), (4, 1)),
    ((4, 1), (4, 17)),
    ((3, 1), (1, 33)),
    ((1, 1, 5), (2, 3, 1)),
    ((2, 1, 3, 1, 4), (1, 5, 1, 6, 1)),
    ((1, 1), (1,)),
    ((), (5, 3)),
    ((), ()),
    ((0, 4), (4,)),
    ((2, 0, 3), (1, 1, 3)),
]


def _positive(*shape, seed=0):
    return rand(*shape, seed=seed, low=0.1, high=4.0)


def _pair(op, s1, s2, seed, dtype="float32"):
    if dtype == "int32":
        low, high = (-40, 40) if op == "multiply" else (-1000, 1000)
        return rand(*s1, dtype=dtype, seed=seed, low=low, high=high), rand(
            *s2, dtype=dtype, seed=seed + 1, low=low, high=high
        )
    if op == "power":  # positive base; a negative base with a fractional exponent is nan (tested below)
        return _positive(*s1, seed=seed), rand(*s2, seed=seed + 1)
    if op == "divide":
        sign = np.where(rand(*s2, seed=seed + 2) < 0, -1, 1).astype(np.float32)
        return rand(*s1, seed=seed), _positive(*s2, seed=seed + 1) * sign
    return rand(*s1, seed=seed), rand(*s2, seed=seed + 1)


# power is exp(y * ln x) in float32: its relative error grows like |y ln x| * 1e-7 (here |y ln x| < 5)
TOL = {"power": {"rtol": 5e-6, "atol": 1e-6}}

CASES = [
    Case(op, _pair(op, s1, s2, i), id=f"{s1}-{s2}", **TOL.get(op, {})) for op in OPS for i, (s1, s2) in enumerate(PAIRS)
]
CASES += [
    Case(op, _pair(op, s1, s2, i, "int32"), id=f"i32{s1}-{s2}") for op in INT_OPS for i, (s1, s2) in enumerate(PAIRS)
]

# BERT-base: bias add over (batch, seq, hidden), residual add; ResNet-50: per-channel scale (NCHW) and add
CASES += [
    Case("add", (rand(8, 128, 768), rand(768, seed=1)), id="bert-bias"),
    Case("add", (rand(8, 128, 768), rand(8, 128, 768, seed=1)), id="bert-residual"),
    Case("multiply", (rand(2, 256, 56, 56), rand(1, 256, 1, 1, seed=1)), id="resnet-scale"),
    Case("add", (rand(2, 2048, 7, 7), rand(2048, 1, 1, seed=1)), id="resnet-bias"),
    Case("divide", (rand(8, 12, 128, 128), _positive(8, 12, 128, 1, seed=1)), id="bert-row-divide"),
    Case("subtract", (rand(8, 12, 128, 128), rand(8, 12, 128, 1, seed=1)), id="bert-row-subtract"),
    Case("maximum", (rand(1, 64, 112, 112), 0.0), id="relu-as-maximum"),
]

# Python scalars on either side take the array's dtype (numpy's weak scalars)
CASES += [
    Case("add", (rand(5, 7), 2.5), id="scalar-right"),
    Case("subtract", (1.5, rand(5, 7)), id="scalar-left"),
    Case("multiply", (rand(9, dtype="int32", low=-50, high=50), 3), id="i32-scalar"),
    Case("minimum", (-4, rand(9, dtype="int32", low=-10, high=10)), id="i32-scalar-left"),
    Case("divide", (rand(33), 3), id="int-scalar-float-array"),
    Case("power", (_positive(1000), 2.0), id="square"),
    Case("power", (_positive(1000), 0.5), id="sqrt"),
    Case("power", (_positive(1000), -1.0), id="reciprocal"),
    Case("power", (2.0, rand(100, low=-20, high=20)), id="exp2"),
    Case("power", (2.0, rand(300, low=126.0, high=128.5)), rtol=2e-5, id="near-overflow"),  # |y ln x| ~ 88
    Case("power", (2.0, rand(300, low=-151.0, high=-125.0)), rtol=2e-5, atol=3e-45, id="subnormal-results"),
    Case("add", (2, 3), id="two-scalars"),
]

# special values: NaN propagation, IEEE division, numpy's powf table (signed zeros, infinities, NaN)
_SPECIAL = np.array([-np.inf, -2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, np.inf, np.nan], np.float32)
_EXPONENTS = np.array([-np.inf, -3.0, -2.0, -0.5, -0.0, 0.0, 0.5, 2.0, 3.0, np.inf, np.nan, 1 / 3, 1e30], np.float32)
CASES += [
    Case("power", (_SPECIAL[:, None], _EXPONENTS[None, :]), id="special-table"),
    Case("power", (np.float32([1e-40, -1e-40, 1e-45, 3e-39]), np.float32([0.5, 3.0, 0.25, 1.0])), id="subnormal-base"),
    Case(
        "power",
        (rand(200, low=-5, high=5), np.round(rand(200, seed=1, low=-6, high=6))),
        rtol=5e-6,
        id="negative-base-integer-exponent",
    ),
    # |y ln x| up to ~115: error ~ |y ln x| * 1.2e-7; results over/underflow; subnormal results lose bits (atol)
    Case(
        "power",
        (_positive(500, seed=3) * 30, rand(500, seed=4, low=-25, high=25)),
        rtol=2e-5,
        atol=3e-45,
        id="wide-range",
    ),
    Case("divide", (_SPECIAL[:, None], _SPECIAL[None, :]), id="special-table"),
    Case("maximum", (_SPECIAL[:, None], _SPECIAL[None, :]), id="special-table"),
    Case("minimum", (_SPECIAL[:, None], _SPECIAL[None, :]), id="special-table"),
    Case("add", (_SPECIAL[:, None], _SPECIAL[None, :]), id="special-table"),
    Case("multiply", (_SPECIAL[:, None], _SPECIAL[None, :]), id="special-table"),
]

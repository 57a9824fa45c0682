"""More elementwise unary ops, on the unary template (ops/unary.py `_Row` / `Unary`): trigonometric and
hyperbolic functions and their inverses, rounding, sign, reciprocal, NaN / inf tests and the small
activations of ONNX (hard_sigmoid, hard_swish, softsign, mish, shrink, thresholded_relu, celu, swish,
gelu_tanh).

Transcendentals are libm-free TE expressions (ops/_fasttrig.py, ops/_fastmath.py); numpy references are
computed in float64. Op names follow numpy where numpy has the function (arcsin, rint, isposinf, ...).
"""

from __future__ import annotations

import math

import numpy as np

from .unary import Unary, _consts, _map, _np_sigmoid, _Row, _sigmoid, _tvm

#: functions of x mod pi/2: the fast reduction when every |x| is small, the exact one otherwise
_REDUCED = ("sin", "cos", "tan")


def _f(name: str):
    """An elementwise row expression from a scalar PrimExpr function of ops/_fasttrig.py."""

    def te_expr(x):
        from . import _fasttrig

        fn = getattr(_fasttrig, name)
        return _fasttrig.guarded(x, fn) if name in _REDUCED else _map(x, fn)

    return te_expr


def _tirx(name: str):
    def te_expr(x):
        return _map(x, getattr(_tvm()[0].tirx, name))

    return te_expr


def _reciprocal(x):
    (one,) = _consts(1.0)
    return _map(x, lambda v: one / v)


def _sign(x):
    tvm, _, _ = _tvm()
    zero, one = (tvm.tirx.const(v, x.dtype) for v in (0, 1))
    return _map(x, lambda v: tvm.tirx.Select(v > zero, one, tvm.tirx.Select(v < zero, -one, v)))  # keeps nan, ±0


def _hard_sigmoid(x, alpha, beta):
    _, te, _ = _tvm()
    zero, one = _consts(0.0, 1.0)
    return _map(x, lambda v: te.max(zero, te.min(one, alpha * v + beta)))


def _hard_swish(x):
    _, te, _ = _tvm()
    zero, one, sixth, half = _consts(0.0, 1.0, 1 / 6, 0.5)
    return _map(x, lambda v: v * te.max(zero, te.min(one, sixth * v + half)))


def _softsign(x):
    (one,) = _consts(1.0)
    return _map(x, lambda v: v / (one + _tvm()[0].tirx.abs(v)))


def _mish(x):
    """x * tanh(ln(1 + e**x)) = x * n / (n + 2) with n = e**x (e**x + 2): no tanh, no log; x itself above 20."""
    tvm, te, _ = _tvm()
    from ._fastmath import _Lets, exp

    twenty, two = _consts(20.0, 2.0)

    def fn(v):
        lets = _Lets()
        v = lets(v, "x")
        e = lets(exp(te.min(v, twenty)), "e")
        n = lets(e * (e + two), "n")
        return lets.wrap(tvm.tirx.Select(v > twenty, v, v * n / (n + two)))

    return _map(x, fn)


def _shrink(x, bias, lambd):
    tvm, _, _ = _tvm()
    (zero,) = _consts(0.0)
    sel = tvm.tirx.Select
    return _map(x, lambda v: sel(v < -lambd, v + bias, sel(v > lambd, v - bias, zero)))


def _thresholded_relu(x, alpha):
    tvm, _, _ = _tvm()
    (zero,) = _consts(0.0)
    return _map(x, lambda v: tvm.tirx.Select(v > alpha, v, zero))


def _celu(x, alpha):
    """max(0, x) + min(0, alpha * (e**(x / alpha) - 1)), with expm1 so small negatives keep their digits.

    alpha = 0 follows the formula as ONNX's reference and onnxruntime evaluate it: x / 0 makes x >= 0 (and
    NaN) NaN and x < 0 give 0."""
    tvm, te, _ = _tvm()
    from ._fastmath import expm1

    zero, nan = _consts(0.0, math.nan)
    sel = tvm.tirx.Select
    return _map(
        x,
        lambda v: sel(
            alpha == zero,
            sel(v < zero, zero, nan),
            sel(v > zero, v, alpha * expm1(te.min(v, zero) / alpha)),
        ),
    )


def _np_celu(x, a):
    """ONNX Celu in float64; alpha = 0 as its formula gives (see _celu)."""
    if a == 0:
        return np.where(x < 0, 0.0, np.nan)
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0) / a))


def _swish(x, alpha):
    _, te, _ = _tvm()
    s = _sigmoid(_map(x, lambda v: alpha * v))
    return te.compute(x.shape, lambda *i: x(*i) * s(*i))


def _gelu_tanh(x):
    _, te, topi = _tvm()
    c, k, half, one = _consts(math.sqrt(2 / math.pi), 0.044715, 0.5, 1.0)
    t = topi.fast_tanh(_map(x, lambda v: c * (v + k * v * v * v)))
    return te.compute(x.shape, lambda *i: half * x(*i) * (one + t(*i)))


def _bits_test(test):
    """A bool row from an int32 test on the float's bits (ordered float compares would miss NaN)."""

    def te_expr(x):
        tvm, _, _ = _tvm()
        return _map(x, lambda v: test(tvm.tirx.reinterpret("int32", v)))

    return te_expr


def _np64(fn):
    def ref(x, *args):
        with np.errstate(all="ignore"):
            return fn(np.asarray(x, np.float64), *args)

    return ref


def _np_mish(x):
    return x * np.tanh(np.logaddexp(0, x))


def _np_shrink(x, bias, lambd):
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0.0))


def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


_TRIG = [
    ("sin", "sine"),
    ("cos", "cosine"),
    ("tan", "tangent"),
    ("arcsin", "inverse sine; nan outside [-1, 1]"),
    ("arccos", "inverse cosine; nan outside [-1, 1]"),
    ("arctan", "inverse tangent"),
    ("sinh", "hyperbolic sine"),
    ("cosh", "hyperbolic cosine"),
    ("arcsinh", "inverse hyperbolic sine"),
    ("arccosh", "inverse hyperbolic cosine; nan below 1"),
    ("arctanh", "inverse hyperbolic tangent; ±inf at ±1, nan beyond"),
]
_FASTTRIG_NAME = {"arcsin": "asin", "arccos": "acos", "arctan": "atan"}
_FASTTRIG_NAME |= {"arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh"}


def _schedule_guarded(func):
    from ._fasttrig import schedule_guarded

    return schedule_guarded(func)


ROWS = [
    _Row(
        name,
        _f(_FASTTRIG_NAME.get(name, name)),
        _np64(getattr(np, name)),
        doc=doc,
        schedule=_schedule_guarded if name in _REDUCED else None,
    )
    for name, doc in _TRIG
] + [
    _Row("reciprocal", _reciprocal, _np64(np.reciprocal), doc="1 / x"),
    _Row("floor", _tirx("floor"), np.floor, doc="largest integer <= x"),
    _Row("ceil", _tirx("ceil"), np.ceil, doc="smallest integer >= x"),
    _Row("rint", _tirx("nearbyint"), np.rint, doc="nearest integer, halves to even (ONNX Round)"),
    _Row("bitwise_not", lambda x: _map(x, lambda v: ~v), np.bitwise_not, ("int32",), doc="~x (numpy.invert)"),
    _Row("sign", _sign, np.sign, ("float32", "int32"), doc="-1, 0 or 1 (nan stays nan)"),
    _Row(
        "hard_sigmoid",
        _hard_sigmoid,
        _np64(lambda x, a, b: np.clip(a * x + b, 0, 1)),
        scalars=("alpha", "beta"),
        doc="max(0, min(1, alpha * x + beta))",
    ),
    _Row("hard_swish", _hard_swish, _np64(lambda x: x * np.clip(x / 6 + 0.5, 0, 1)), doc="x * hard_sigmoid(x)"),
    _Row("softsign", _softsign, _np64(lambda x: x / (1 + np.abs(x))), doc="x / (1 + |x|)"),
    _Row("mish", _mish, _np64(_np_mish), doc="x * tanh(softplus(x))"),
    _Row(
        "shrink",
        _shrink,
        _np64(_np_shrink),
        scalars=("bias", "lambd"),
        doc="x + bias below -lambd, x - bias above lambd, else 0",
    ),
    _Row(
        "thresholded_relu",
        _thresholded_relu,
        lambda x, a: np.where(x > a, x, 0),
        scalars=("alpha",),
        doc="x if x > alpha else 0",
    ),
    _Row(
        "celu",
        _celu,
        _np64(_np_celu),
        scalars=("alpha",),
        doc="max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
    ),
    _Row(
        "swish",
        _swish,
        _np64(lambda x, a: x * _np_sigmoid(a * x)),
        scalars=("alpha",),
        doc="x * sigmoid(alpha * x)",
    ),
    _Row("gelu_tanh", _gelu_tanh, _np64(_np_gelu_tanh), doc="GELU's tanh approximation"),
    _Row("isnan", _bits_test(lambda b: (b & 0x7FFFFFFF) > 0x7F800000), np.isnan, doc="x is NaN", out_dtype="bool"),
    _Row("isinf", _bits_test(lambda b: (b & 0x7FFFFFFF) == 0x7F800000), np.isinf, doc="x is ±inf", out_dtype="bool"),
    _Row("isposinf", _bits_test(lambda b: b == 0x7F800000), np.isposinf, doc="x is +inf", out_dtype="bool"),
    _Row("isneginf", _bits_test(lambda b: b == -8388608), np.isneginf, doc="x is -inf", out_dtype="bool"),
]

OPS = [Unary(row) for row in ROWS]

"""float32 exp, log and pow as TE expressions, without libm (wasm has none); build time only (imports TVM).

`tvm.topi.fast_exp` works on whole tensors and saturates at exp(88.38) instead of overflowing to inf;
these work on single expressions (so they inline into any compute) and follow IEEE / numpy at the edges.

Every intermediate used more than once is let-bound (`_Lets`): a Python expression reused n times is a
tree that TVM walks n times, and nesting exp(log(x)) that way makes compiles take minutes. NaN tests are
integer bit tests, because TVM's vectoriser gives up on `tirx.isnan` of a let variable and its simplifier
folds `x != x` to false.
"""

from __future__ import annotations

import math

import tvm
from tvm.tirx import Expr as PrimExpr
from tvm.tirx import Select

F32 = "float32"
# Cephes expf / logf polynomials; ln 2 split in two so n * _LN2_HI is exact for every exponent n we meet
_EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
_LOG_POLY = (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1)
_LOG_POLY += (-1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1)
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
#: fmod's int64 steps: each shifts a remainder below 2**24 by up to 39 bits; 7 cover float32's widest exponent
#: gap (from 2**-149 to 2**104 mantissa units: 254 bits)
_FMOD_STEP, _FMOD_STEPS = 39, 7


def _c(v: float) -> PrimExpr:
    return tvm.tirx.const(v, F32)


def _expr(x) -> PrimExpr:
    return x.asobject() if hasattr(x, "asobject") else x  # a te tensor element (TensorSlice) -> its load


class _Lets:
    """Straight-line let-bindings: `v = lets(value)` names a value; `lets.wrap(body)` nests the bindings.

    Bind numbers only: a boolean let variable, once vectorised, breaks TVM's LLVM codegen."""

    def __init__(self) -> None:
        self.bindings: list[tuple[tvm.tirx.Var, PrimExpr]] = []

    def __call__(self, value, name: str = "v") -> tvm.tirx.Var:
        value = _expr(value)
        var = tvm.tirx.Var(name, value.ty)
        self.bindings.append((var, value))
        return var

    def wrap(self, body: PrimExpr) -> PrimExpr:
        for var, value in reversed(self.bindings):
            body = tvm.tirx.Let(var, value, body)
        return body


def isnan(x) -> PrimExpr:
    """x is NaN: exponent all ones and a non-zero mantissa."""
    return (tvm.tirx.reinterpret("int32", _expr(x)) & 0x7FFFFFFF) > 0x7F800000


def _pow2(k: PrimExpr) -> PrimExpr:
    """2**k for an int32 k in [-126, 127], built from the exponent bits."""
    return tvm.tirx.reinterpret(F32, (k + 127) << 23)


def _horner(coefs: tuple[float, ...], v: PrimExpr) -> PrimExpr:
    p = _c(coefs[0])
    for coef in coefs[1:]:
        p = p * v + _c(coef)
    return p


def exp(x) -> PrimExpr:
    """e**x in float32, ~1 ulp: 2**n * exp(f), n = round(x / ln 2), |f| <= ln 2 / 2.

    Overflows to inf above ~88.72, underflows through the subnormals to 0 below ~-103.97; exp(-inf) = 0,
    exp(inf) = inf, exp(nan) = nan. 2**n is applied as two halves, one after the other, so subnormal
    results round once and 2**128 never appears on its own.
    """
    lets = _Lets()
    x = lets(x, "x")
    t = lets(tvm.te.max(tvm.te.min(x, _c(88.8)), _c(-104.0)), "t")
    n = lets(tvm.tirx.floor(t * _c(1 / math.log(2)) + _c(0.5)), "n")
    f = lets(t - n * _c(_LN2_HI) - n * _c(_LN2_LO), "f")
    k = lets(n.astype("int32"), "k")
    h = lets(k >> 1, "h")
    p = _horner(_EXP_POLY, f) * (f * f) + f + _c(1.0)
    return lets.wrap(Select(isnan(x), x, p * _pow2(h) * _pow2(k - h)))


def log(x) -> PrimExpr:
    """ln x in float32, ~1 ulp (Cephes logf: x = m * 2**e, m in [sqrt(1/2), sqrt(2)), polynomial in m - 1).

    Subnormal x is scaled by 2**24 first; ln 0 = -inf, ln inf = inf, ln(x < 0) = ln nan = nan.
    """
    lets = _Lets()
    x = lets(x, "x")
    tiny = x < _c(2.0**-126)
    bits = lets(tvm.tirx.reinterpret("int32", Select(tiny, x * _c(2.0**24), x)), "bits")
    e = lets(((bits >> 23) & 0xFF) - 126 - Select(tiny, 24, 0), "e")  # x = m * 2**e, m in [0.5, 1)
    m = lets(tvm.tirx.reinterpret(F32, (bits & 0x007FFFFF) | 0x3F000000), "m")
    small = m < _c(0.70710678)
    ef = lets(Select(small, e - 1, e).astype(F32), "ef")
    mf = lets(Select(small, m + m - _c(1.0), m - _c(1.0)), "mf")
    z = lets(mf * mf, "z")
    y = _horner(_LOG_POLY, mf) * mf * z + _c(_LN2_LO) * ef - _c(0.5) * z
    r = mf + y + _c(_LN2_HI) * ef
    inf = _c(float("inf"))
    r = Select(x == inf, inf, r)
    r = Select(x == _c(0.0), -inf, r)
    return lets.wrap(Select(tvm.tirx.any(x < _c(0.0), isnan(x)), _c(float("nan")), r))


def power(x, y) -> PrimExpr:
    """x ** y in float32 as numpy (C99 powf) defines it at every special value.

    |x| ** y = exp(y * ln|x|) (relative error grows like |y ln x| * 1.2e-7); a negative base takes the sign
    of an odd integer exponent and gives NaN for a non-integer one; x ** 0 = 1 and 1 ** y = 1 even for
    NaN, (-1) ** ±inf = 1; 0 ** y<0 = inf (signed for odd y); the inf and 0 limits follow from ln 0 = -inf.
    """
    lets = _Lets()
    x, y = lets(x, "x"), lets(y, "y")
    r = lets(exp(y * log(tvm.tirx.abs(x))), "r")
    inf = _c(float("inf"))
    y_int = lets(tvm.tirx.floor(y), "floor_y") == y  # ±inf count as integers; all floats >= 2**24 are even ones
    half = lets(y * _c(0.5), "half")
    y_odd = tvm.tirx.all(y_int, tvm.tirx.floor(half) != half)
    negative = tvm.tirx.reinterpret("int32", x) < 0  # the sign bit, so (-0) ** -1 = -inf
    r = Select(tvm.tirx.all(negative, y_odd), -r, r)
    finite_negative = tvm.tirx.all(x < _c(0.0), x > -inf)
    r = Select(tvm.tirx.all(finite_negative, tvm.tirx.Not(y_int)), _c(math.nan), r)  # NaN in x or y is NaN in r
    one = tvm.tirx.any(y == _c(0.0), x == _c(1.0), tvm.tirx.all(x == _c(-1.0), tvm.tirx.abs(y) == inf))
    return lets.wrap(Select(one, _c(1.0), r))


def expm1(x) -> PrimExpr:
    """e**x - 1 without the cancellation near 0: a degree-8 Taylor polynomial for |x| < 0.35 (error < 1e-9
    relative), exp(x) - 1 elsewhere."""
    lets = _Lets()
    x = lets(x, "x")
    taylor = _horner(tuple(1 / math.factorial(k) for k in range(8, 0, -1)), x) * x
    return lets.wrap(Select(tvm.tirx.abs(x) < _c(0.35), taylor, exp(x) - _c(1.0)))


def _mantissa_exponent(lets: _Lets, bits, name: str):
    """(m, e) with |v| = m * 2**e, m a 24-bit integer (int64), from |v|'s bits (subnormals included)."""
    field = lets(bits >> 23, f"{name}_field")
    e = lets(Select(field == 0, -149, field - 150), f"{name}_e")
    m = lets(Select(field == 0, bits, (bits & 0x7FFFFF) | 0x800000).astype("int64"), f"{name}_m")
    return m, e


def fmod(x, y, floor: bool = False) -> PrimExpr:
    """C fmod for float32, exact for every pair (the remainder of a truncated division is representable).

    With |x| = mx 2**ex and |y| = my 2**ey (24-bit integer mantissas), |x| mod |y| = (mx 2**(ex - ey) mod my)
    2**ey: the power is applied in int64 steps of up to _FMOD_STEP bits (r < 2**24, so r << 39 < 2**63),
    enough for the widest exponent gap of float32 (254). fmod(x, ±inf) = x for finite x, fmod(±inf, y) =
    fmod(x, 0) = nan.

    floor: numpy's mod instead (the divisor's sign): y is added when the signs differ, and 0 takes y's sign.
    """
    lets = _Lets()
    x, y = lets(x, "x"), lets(y, "y")
    bx = lets(tvm.tirx.reinterpret("int32", x) & 0x7FFFFFFF, "bx")
    by = lets(tvm.tirx.reinterpret("int32", y) & 0x7FFFFFFF, "by")
    mx, ex = _mantissa_exponent(lets, bx, "x")
    my, ey = _mantissa_exponent(lets, by, "y")
    my = lets(tvm.te.max(my, tvm.tirx.const(1, "int64")), "my")  # y = 0 is NaN below; never a division by 0
    gap = lets(ex - ey, "gap")

    def shift(step: int):
        return tvm.te.max(tvm.te.min(gap - _FMOD_STEP * step, _FMOD_STEP), 0).astype("int64")

    r = lets(tvm.tirx.truncmod(mx << shift(0), my), "r1")  # mx < 2**24: one step covers gaps up to 39 bits
    far = _Lets()  # wider gaps (|x / y| >= 2**39) take the other steps, behind a branch in scalar code
    r_far = r
    for step in range(1, _FMOD_STEPS):
        r_far = far(tvm.tirx.truncmod(r_far << shift(step), my), f"r{step + 1}")
    r = lets(tvm.tirx.if_then_else(gap > _FMOD_STEP, far.wrap(r_far), r), "r")
    scale = tvm.tirx.reinterpret("float64", (ey + 1023).astype("int64") << 52)
    v = lets(Select(bx < by, tvm.tirx.abs(x), (r.astype("float64") * scale).astype(F32)), "v")  # exact
    v = lets(Select(tvm.tirx.reinterpret("int32", x) < 0, -v, v), "fm")
    if floor:
        zero = _c(0.0)
        differ = tvm.tirx.all(v != zero, (tvm.tirx.reinterpret("int32", v) ^ tvm.tirx.reinterpret("int32", y)) < 0)
        v = lets(Select(differ, v + y, v), "md")
        v = Select(v == zero, tvm.tirx.copysign(zero, y), v)
    bad = tvm.tirx.any(bx >= 0x7F800000, by == 0, by > 0x7F800000)  # x inf or nan, y 0 or nan
    return lets.wrap(Select(bad, _c(math.nan), v))

"""float32 trigonometric and hyperbolic functions as TE expressions, without libm; build time only (imports TVM).

Cephes single-precision algorithms (sinf, tanf, atanf, asinf, sinhf, asinhf, acoshf, atanhf): a range
reduction that is exact or nearly so, then a short polynomial on the reduced argument. Each is a few float32
ulps where the reduction is exact; see each function for its domain and special values. Reused values are
let-bound (see `_fastmath._Lets`).
"""

from __future__ import annotations

import math

import numpy as np
import tvm
from tvm.tirx import Expr as PrimExpr
from tvm.tirx import Select

from ._fastmath import _c, _horner, _Lets, exp, isnan, log

# pi / 2 in three parts: n * _PIO2_1 and n * _PIO2_2 are exact for the quadrant counts n < 2**13 we reduce
_PIO2_1, _PIO2_2, _PIO2_3 = 1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8
_SIN_POLY = (-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1)
_COS_POLY = (2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2)
_TAN_POLY = (9.38540185543e-3, 3.11992232697e-3, 2.44301354525e-2, 5.34112807005e-2, 1.33387994085e-1)
_TAN_POLY += (3.33331568548e-1,)
_ATAN_POLY = (8.05374449538e-2, -1.38776856032e-1, 1.99777106478e-1, -3.33329491539e-1)
_ASIN_POLY = (4.2163199048e-2, 2.4181311049e-2, 4.5470025998e-2, 7.4953002686e-2, 1.6666752422e-1)
_SINH_POLY = (2.03721912945e-4, 8.33028376239e-3, 1.66667160211e-1)
_ASINH_POLY = (2.0122003309e-2, -4.2699340972e-2, 7.4847586088e-2, -1.6666288134e-1)
_ACOSH_POLY = (1.7596881071e-3, -7.5272886713e-3, 2.6454905019e-2, -1.1784741703e-1, 1.4142135263e0)
_ATANH_POLY = (1.81740078349e-1, 8.24370301058e-2, 1.46691431730e-1, 1.99782164500e-1, 3.33337300303e-1)
#: beyond this |x| the three-part float32 reduction loses bits: larger |x| take the exact float64 one
REDUCTION_LIMIT = 8192.0


def _abs(v):
    return tvm.tirx.abs(v)


def _neg_sign(x) -> PrimExpr:
    return tvm.tirx.reinterpret("int32", x) < 0


def _quadrant(lets: _Lets, x, exact):
    """(r, q): x = n * pi/2 + r, |r| <= pi/4, q = n mod 4 (int32). The float32 reduction is exact below
    REDUCTION_LIMIT; `exact`, x's (high, low) parts from ops/_trig_reduce.py, covers every larger |x|."""
    n = lets(tvm.tirx.nearbyint(x * _c(2 / math.pi)), "n")
    r = lets(x - n * _c(_PIO2_1) - n * _c(_PIO2_2) - n * _c(_PIO2_3), "r")
    q = lets(n.astype("int32") & 3, "q")
    if exact is None:
        return r, q
    from ._trig_reduce import reduce_pio2

    r64, q64 = reduce_pio2(lets, *exact)  # for |x|: x = -|x| mirrors n and r
    r_big = lets(Select(_neg_sign(x), -r64, r64).astype("float32"), "r_big")
    q_big = Select(_neg_sign(x), (4 - q64) & 3, q64)
    small = _abs(x) < _c(REDUCTION_LIMIT)
    return lets(Select(small, r, r_big), "r_all"), lets(Select(small, q, q_big), "q_all")


def _sin_cos_poly(lets: _Lets, r):
    z = lets(r * r, "z")
    s = lets(_horner(_SIN_POLY, z) * z * r + r, "s")
    c = lets(_horner(_COS_POLY, z) * z * z - _c(0.5) * z + _c(1.0), "c")
    return s, c


def _sin_q(x, shift: int, exact=None) -> PrimExpr:
    """sin(x + shift * pi/2): the quadrant picks the sine or cosine polynomial and the sign."""
    lets = _Lets()
    x = lets(x, "x")
    r, q = _quadrant(lets, x, exact)
    s, c = _sin_cos_poly(lets, r)
    k = lets((q + shift) & 3, "k")
    v = Select((k & 1) == 1, c, s)
    v = Select(k >= 2, -v, v)
    finite = _abs(x) < _c(math.inf)
    return lets.wrap(Select(finite, v, _c(math.nan)))


def sin(x, exact=None) -> PrimExpr:
    """sin x, ~2 ulp (without `exact`: for |x| < REDUCTION_LIMIT); sin(±inf) = nan, sin(nan) = nan, sin(-0) = -0."""
    return _sin_q(x, 0, exact)


def cos(x, exact=None) -> PrimExpr:
    """cos x = sin(x + pi/2) by quadrant, ~2 ulp (without `exact`: for |x| < REDUCTION_LIMIT); cos(±inf) = nan."""
    return _sin_q(x, 1, exact)


def tan(x, exact=None) -> PrimExpr:
    """tan x: polynomial on |r| <= pi/4, -1 / tan r in odd quadrants; ~3 ulp (without `exact`: for
    |x| < REDUCTION_LIMIT)."""
    lets = _Lets()
    x = lets(x, "x")
    r, q = _quadrant(lets, x, exact)
    z = lets(r * r, "z")
    t = lets(_horner(_TAN_POLY, z) * z * r + r, "t")
    v = Select((q & 1) == 1, _c(-1.0) / t, t)
    return lets.wrap(Select(_abs(x) < _c(math.inf), v, _c(math.nan)))


def guarded(x, fn):
    """fn over a (blocks, BLOCK) tensor: per block, the float32 reduction alone when every |x| in it is below
    REDUCTION_LIMIT (the common case keeps the fast path's speed), else with the exact parts too. Schedule
    with `schedule_guarded`."""
    from tvm import te

    from ._trig_reduce import parts

    def bits(b, i):
        return tvm.tirx.reinterpret("int32", x[b, i]) & 0x7FFFFFFF

    def row_max(b):  # a balanced tree of the block's 16 loads: no reduction loop to initialise
        v = [bits(b, i) for i in range(int(x.shape[1]))]
        while len(v) > 1:
            v = [te.max(p, q) for p, q in zip(v[::2], v[1::2], strict=True)]
        return v[0]

    top = te.compute(x.shape[:1], row_max, name="top")
    limit = int(np.float32(REDUCTION_LIMIT).view(np.int32))
    high, low = parts(x, lambda b: top[b] < limit)
    return te.compute(
        x.shape,
        lambda b, i: tvm.tirx.if_then_else(top[b] < limit, fn(x[b, i]), fn(x[b, i], exact=(high[b, i], low[b, i]))),
        name="y",
    )


def exact_everywhere(x, fn):
    """fn over a tensor of any shape with the exact reduction for every |x| >= REDUCTION_LIMIT: no per-block
    branch (whole graphs, whose tensors are not (blocks, BLOCK)), so each element pays for both reductions."""
    from tvm import te

    from ._trig_reduce import parts

    high, low = parts(x)
    return te.compute(x.shape, lambda *i: fn(x(*i), exact=(high(*i), low(*i))), name="y")


def schedule_guarded(func):
    """`guarded`'s schedule: per output block, the bit scan, then the exact parts (element loops
    vectorised, each behind its one branch), then the block itself, vectorised."""
    sch = tvm.s_tir.Schedule(func)
    block, lanes = sch.get_loops(sch.get_sblock("y"))
    for name in ("pio2_low", "pio2_high", "pio2_terms", "top"):  # consumers before their producer
        sch.compute_at(sch.get_sblock(name), block)
    *_, lane, term = sch.get_loops(sch.get_sblock("pio2_terms"))
    sch.reorder(term, lane)
    for name in ("pio2_terms", "pio2_high", "pio2_low"):
        sch.vectorize(sch.get_loops(sch.get_sblock(name))[-1])
    sch.vectorize(lanes)
    return sch.mod["main"]


def atan(x) -> PrimExpr:
    """atan x: |x| reduced to [0, tan(pi/8)] by atan x = pi/4 + atan((x-1)/(x+1)) or pi/2 - atan(1/x);
    ~2 ulp; atan(±inf) = ±pi/2."""
    lets = _Lets()
    x = lets(x, "x")
    a = lets(_abs(x), "a")
    big, mid = a > _c(2.414213562373095), a > _c(0.4142135623730950)
    y0 = lets(Select(big, _c(math.pi / 2), Select(mid, _c(math.pi / 4), _c(0.0))), "y0")
    t = lets(Select(big, _c(-1.0) / a, Select(mid, (a - _c(1.0)) / (a + _c(1.0)), a)), "t")
    z = lets(t * t, "z")
    v = lets(y0 + (_horner(_ATAN_POLY, z) * z * t + t), "v")
    return lets.wrap(Select(_neg_sign(x), -v, v))


def _asin_abs(lets: _Lets, a):
    """(asin a for a in [0, 1]): for a > 1/2, asin a = pi/2 - 2 asin(sqrt((1 - a) / 2))."""
    hi = a > _c(0.5)
    z = lets(Select(hi, _c(0.5) * (_c(1.0) - a), a * a), "z")
    t = lets(Select(hi, tvm.tirx.sqrt(z), a), "t")
    p = lets(_horner(_ASIN_POLY, z) * z * t + t, "p")
    return Select(hi, _c(math.pi / 2) - (p + p), p)


def asin(x) -> PrimExpr:
    """asin x, ~2 ulp on [-1, 1]; nan outside (sqrt of a negative)."""
    lets = _Lets()
    x = lets(x, "x")
    v = lets(_asin_abs(lets, _abs(x)), "v")
    v = Select(_abs(x) > _c(1.0), _c(math.nan), v)
    return lets.wrap(Select(_neg_sign(x), -v, v))


def acos(x) -> PrimExpr:
    """acos x = pi/2 - asin x near 0, 2 asin(sqrt((1 - |x|) / 2)) (mirrored for x < 0) near ±1; nan
    outside [-1, 1]."""
    lets = _Lets()
    x = lets(x, "x")
    a = lets(_abs(x), "a")
    hi = a > _c(0.5)
    z = lets(Select(hi, _c(0.5) * (_c(1.0) - a), x * x), "z")
    t = lets(Select(hi, tvm.tirx.sqrt(z), x), "t")
    p = lets(_horner(_ASIN_POLY, z) * z * t + t, "p")  # asin t
    far = Select(x < _c(0.0), _c(math.pi) - (p + p), p + p)
    v = Select(hi, far, _c(math.pi / 2) - p)
    return lets.wrap(Select(a > _c(1.0), _c(math.nan), v))


def _sinh_cosh(x, sign: float) -> PrimExpr:
    """(e**a ± e**-a) / 2 with e**a as (e**(a/2))**2, so no overflow before the result's own (|x| ~ 89.4)."""
    lets = _Lets()
    x = lets(x, "x")
    a = lets(_abs(x), "a")
    h = lets(exp(_c(0.5) * a), "h")
    e = lets(h * h, "e")
    return lets, x, a, _c(0.5) * h * h + _c(sign * 0.5) / e  # (h / 2) * h: finite up to the result's own limit


def sinh(x) -> PrimExpr:
    """sinh x: odd polynomial for |x| <= 1, exponentials above; ~2 ulp; sinh(±inf) = ±inf."""
    lets, x, a, big = _sinh_cosh(x, -1.0)
    z = lets(x * x, "z")
    small = _horner(_SINH_POLY, z) * z * x + x
    return lets.wrap(Select(a > _c(1.0), Select(_neg_sign(x), -big, big), small))


def cosh(x) -> PrimExpr:
    """cosh x = (e**|x| + e**-|x|) / 2, ~2 ulp; cosh(±inf) = inf."""
    lets, _, _, v = _sinh_cosh(x, 1.0)
    return lets.wrap(v)


def asinh(x) -> PrimExpr:
    """asinh x: odd polynomial for |x| < 1/2, ln(a + sqrt(a*a + 1)) up to 1500, ln a + ln 2 above (no
    overflow of a*a); ~2 ulp."""
    lets = _Lets()
    x = lets(x, "x")
    a = lets(_abs(x), "a")
    z = lets(x * x, "z")
    small = _horner(_ASINH_POLY, z) * z * x + x
    huge = a > _c(1500.0)
    arg = lets(Select(huge, a, a + tvm.tirx.sqrt(Select(huge, _c(1.0), a * a) + _c(1.0))), "arg")
    big = lets(log(arg) + Select(huge, _c(math.log(2)), _c(0.0)), "big")
    big = Select(_neg_sign(x), -big, big)
    return lets.wrap(Select(a < _c(0.5), small, big))


def acosh(x) -> PrimExpr:
    """acosh x: sqrt(x - 1) times a polynomial just above 1, ln(x + sqrt((x-1)(x+1))) up to 1500,
    ln x + ln 2 above; nan below 1; ~2 ulp."""
    lets = _Lets()
    x = lets(x, "x")
    z = lets(x - _c(1.0), "z")
    small = _horner(_ACOSH_POLY, z) * tvm.tirx.sqrt(tvm.te.max(z, _c(0.0)))
    huge = x > _c(1500.0)
    arg = lets(Select(huge, x, x + tvm.tirx.sqrt(Select(huge, _c(1.0), z * (x + _c(1.0))))), "arg")
    big = log(arg) + Select(huge, _c(math.log(2)), _c(0.0))
    v = Select(z < _c(0.5), small, big)
    return lets.wrap(Select(tvm.tirx.any(x < _c(1.0), isnan(x)), _c(math.nan), v))


def atanh(x) -> PrimExpr:
    """atanh x: odd polynomial for |x| < 1/2, ln((1 + x) / (1 - x)) / 2 above; ±1 gives ±inf, |x| > 1 nan."""
    lets = _Lets()
    x = lets(x, "x")
    z = lets(x * x, "z")
    small = _horner(_ATANH_POLY, z) * z * x + x
    big = _c(0.5) * log((_c(1.0) + x) / (_c(1.0) - x))
    return lets.wrap(Select(_abs(x) < _c(0.5), small, big))

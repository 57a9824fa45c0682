"""Exact argument reduction x = n * pi/2 + r for every float32 x, as a TE expression (Payne-Hanek in float64).

The float32 Cody-Waite reduction of ops/_fasttrig.py is exact only below |x| = 8192; beyond it sin / cos /
tan need 2/pi to as many bits as x's exponent reaches (up to 2**104 * 24 bits of mantissa). This module
multiplies x's 24-bit integer mantissa by 24-bit chunks of 2/pi (each product exact in float64), drops the
chunks whose products are multiples of 8 (so they do not change n mod 4), and sums the rest split at 2**-24
into an exact integer-and-high part and a small low part. Build time only (imports TVM).
"""

from __future__ import annotations

import math

import tvm
from tvm.tirx import Select

F64 = "float64"
#: 24-bit chunks of 2/pi needed: the first chunk index reaches 4 (x < 2**128), and six are summed from it
_CHUNKS = 10
#: chunks summed from the first whose product is not a multiple of 8: the rest are below 2**-70
_TERMS = 6


def _arctan_inv(k: int, one: int) -> int:
    """arctan(1 / k) * one, as an integer (the alternating series; `one` is a power of 2)."""
    total = term = one // k
    n, sign = 1, -1
    while term:
        term //= k * k
        total += sign * (term // (2 * n + 1))
        n, sign = n + 1, -sign
    return total


def two_over_pi_chunks(count: int = _CHUNKS) -> list[int]:
    """The first count * 24 bits of 2/pi as 24-bit integers: 2/pi = sum C_k 2**(-24 (k + 1)).

    Computed from Machin's formula with Python integers, 64 guard bits (so the table is checked, not typed)."""
    bits = 24 * count + 64
    one = 1 << bits
    pi = 16 * _arctan_inv(5, one) - 4 * _arctan_inv(239, one)  # pi * 2**bits, within a few units
    two_over_pi = (2 << (2 * bits)) // pi  # (2 / pi) * 2**bits
    return [(two_over_pi >> (bits - 24 * (k + 1))) & 0xFFFFFF for k in range(count)]


def _c64(v: float):
    return tvm.tirx.const(v, F64)


def _pow2(s):
    """2**s as float64 for an int32 s in [-1022, 1023], from the exponent bits."""
    return tvm.tirx.reinterpret(F64, (s + 1023).astype("int64") << 52)


def _chunk(table: list[int], k):
    """C[k] for an int32 k in 0..len(table)-1, as a float64 (exact): a Select chain, no memory table."""
    v = _c64(float(table[-1]))
    for i in range(len(table) - 2, -1, -1):
        v = Select(k == i, _c64(float(table[i])), v)
    return v


def _term(lets, x, j):
    """t_j = m * C[k0 + j] * 2**(s0 - 24 j) (exact), with |x| = m * 2**e, m a 24-bit integer, and k0 the first
    chunk whose product is not a multiple of 8 (the earlier ones do not change n mod 4)."""
    bits = lets(tvm.tirx.reinterpret("int32", x) & 0x7FFFFFFF, "abits")
    field = lets(bits >> 23, "efield")
    e = lets(Select(field == 0, -149, field - 150), "e")
    m = Select(field == 0, bits, (bits & 0x7FFFFF) | 0x800000).astype(F64)
    k0 = lets(tvm.te.max(tvm.tirx.floordiv(e + 21, 24) - 1, 0), "k0")  # 0..4 for every float32
    s0 = e - 24 * (k0 + 1)  # in [-173, 2]
    return lets.wrap(m * _chunk(two_over_pi_chunks(), k0 + j) * _pow2(s0 - 24 * j))


def parts(x, skip=None):
    """(high, low) tensors over x's shape: |x| * 2/pi = high + low mod 8, high exact (a multiple of 2**-24
    below 48), low in [0, 6 * 2**-24) to ~2**-77; sums of _TERMS products t_j split at 2**-24. Where
    `skip(row)` holds (if given) they are 0 and cost one branch per row.

    Stages, not let-bound expressions: TVM's analyzer substitutes let values, so a long chain of reused lets
    grows exponentially at compile time (minutes for this reduction)."""
    from tvm import te

    from ._fastmath import _Lets

    zero = _c64(0.0)

    def guard(value, idx):
        return value if skip is None else tvm.tirx.if_then_else(skip(idx[0]), zero, value)

    t = te.compute((*x.shape, _TERMS), lambda *i: guard(_term(_Lets(), x(*i[:-1]), i[-1]), i), name="pio2_terms")

    def high_bits(v):  # v rounded down to a multiple of 2**-24
        return tvm.tirx.floor(v * _c64(2.0**24)) * _c64(2.0**-24)

    def mod8(v):
        return v - _c64(8.0) * tvm.tirx.floor(v * _c64(0.125))

    def total(fn):
        return lambda *i: guard(sum((fn(t(*i, j)) for j in range(1, _TERMS)), fn(t(*i, 0))), i)

    high = te.compute(x.shape, total(lambda v: mod8(high_bits(v))), name="pio2_high")
    low = te.compute(x.shape, total(lambda v: v - high_bits(v)), name="pio2_low")
    return high, low


def reduce_pio2(lets, high, low):
    """(r, q) for |x| from its parts: |x| = n * pi/2 + r, |r| <= pi/4 (float64), q = n mod 4 (int32).
    Accurate to a few float64 ulps of r for every float32 |x| >= 2**13 (smaller x lose relative accuracy:
    use the float32 reduction there); the caller mirrors them for negative x and maps NaN / inf to NaN."""
    high = lets(high, "high")
    n = lets(tvm.tirx.nearbyint(high), "n")
    f = (high - n) + lets(low, "low")  # high - n is exact
    return f * _c64(math.pi / 2), n.astype("int32") & 3

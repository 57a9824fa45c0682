"""More elementwise binary ops on the binary template (ops/binary.py `_Row` / `Binary`, numpy broadcasting):
remainders (mod, fmod), integer division (trunc_divide), bitwise ops and shifts on int32,
logical ops on bool.

Division by zero never traps: wasm's i32.div_s would, so the divisor is made safe first and the results
are numpy's for integers (x // 0 = x % 0 = fmod(x, 0) = 0, with numpy's RuntimeWarning left out), and
INT32_MIN / -1 wraps to INT32_MIN. Float remainders are exact (ops/_fastmath.py `fmod`).
Shift counts outside [0, 31] shift every bit out: 0 for a left shift, the sign for a right shift (an
arithmetic shift; values widened from unsigned types are non-negative, where it equals a logical one).
"""

from __future__ import annotations

import numpy as np

from .binary import Binary, _Row

INT = ("int32",)
BOTH = ("float32", "int32")


def _tirx():
    import tvm

    return tvm.tirx


def _safe_divisor(b):
    """b, or 1 where b is 0 or -1: both arms of a Select are computed, and i32.div_s traps on x / 0 and on
    INT32_MIN / -1 (LLVM's srem is undefined there too); callers select the right result for those."""
    t = _tirx()
    return t.Select(t.any(b == 0, b == -1), t.const(1, "int32"), b)


def _trunc_divide(a, b):
    t = _tirx()
    return t.Select(b == -1, t.const(0, "int32") - a, t.Select(b == 0, b, t.truncdiv(a, _safe_divisor(b))))


def _fmod(a, b, dtype: str = ""):
    t = _tirx()
    if (dtype or str(a.dtype)) == "int32":
        return t.truncmod(a, _safe_divisor(b))  # x % 0 = x % -1 = x % 1 = 0
    from ._fastmath import fmod

    return fmod(a, b)


def _mod(a, b):
    """Remainder with the divisor's sign (numpy / Python %): fmod, plus b when the signs differ."""
    t = _tirx()
    if str(a.dtype) != "int32":
        from ._fastmath import fmod

        return fmod(a, b, floor=True)
    from ._fastmath import _Lets

    lets = _Lets()
    a, b = lets(a, "a"), lets(b, "b")
    r = lets(_fmod(a, b, "int32"), "r")
    return lets.wrap(t.Select(t.all(r != 0, (r ^ b) < 0), r + b, r))


def _outside(b):
    t = _tirx()
    return t.any(b < 0, b > 31)


def _left_shift(a, b):
    t = _tirx()
    return t.Select(_outside(b), t.const(0, "int32"), a << b)


def _right_shift(a, b):
    t = _tirx()
    return t.Select(_outside(b), a >> 31, a >> b)


def _logical_xor(a, b):
    t = _tirx()
    return t.any(t.all(a, t.Not(b)), t.all(t.Not(a), b))  # bool != compiles to a float compare in TVM's LLVM


def _np_divisor(b):
    return np.where(b == 0, 1, b)


def _np_trunc_divide(a, b):
    a64, b64 = np.asarray(a, np.int64), np.asarray(b, np.int64)
    q = np.abs(a64) // np.abs(_np_divisor(b64)) * np.sign(a64) * np.sign(b64)
    return q.astype(np.int32)  # wraps INT32_MIN / -1 like the kernel


def _np_shift(fn, fill):
    def ref(a, b):
        inside = (b >= 0) & (b <= 31)
        return np.where(inside, fn(a, np.clip(b, 0, 31)), fill(a))

    return ref


ROWS = [
    # lanes=1: int64 remainders have no SIMD form, and in scalar code fmod's wide-gap steps are a branch
    _Row("mod", _mod, np.mod, BOTH, "remainder with the divisor's sign (numpy.mod, Python %)", lanes=1),
    _Row("fmod", _fmod, np.fmod, BOTH, "remainder with the dividend's sign (C fmod); exact", lanes=1),
    _Row("trunc_divide", _trunc_divide, _np_trunc_divide, INT, "x1 / x2 rounded toward zero (C, ONNX Div)"),
    _Row("bitwise_and", lambda a, b: a & b, np.bitwise_and, INT, "x1 & x2"),
    _Row("bitwise_or", lambda a, b: a | b, np.bitwise_or, INT, "x1 | x2"),
    _Row("bitwise_xor", lambda a, b: a ^ b, np.bitwise_xor, INT, "x1 ^ x2"),
    _Row("left_shift", _left_shift, _np_shift(np.left_shift, np.zeros_like), INT, "x1 << x2 (0 past 31)"),
    _Row(
        "right_shift",
        _right_shift,
        _np_shift(np.right_shift, lambda a: a >> 31),
        INT,
        "x1 >> x2, arithmetic (the sign past 31)",
    ),
    _Row("logical_and", lambda a, b: _tirx().all(a, b), np.logical_and, ("bool",), "x1 and x2"),
    _Row("logical_or", lambda a, b: _tirx().any(a, b), np.logical_or, ("bool",), "x1 or x2"),
    _Row("logical_xor", _logical_xor, np.logical_xor, ("bool",), "x1 xor x2"),
]


OPS = [Binary(row) for row in ROWS]

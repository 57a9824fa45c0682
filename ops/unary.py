"""Elementwise unary ops (relu, sigmoid, tanh, gelu, silu, exp, log, sqrt, neg, abs, clip, relu6, leaky_relu,
elu, selu, softplus).

One table row per op: its TE expression, its numpy reference and the dtypes it serves. Every kernel
works on the tensor as whole (blocks, 16) rows (a blocked Call), so one compiled function serves any shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .spec import BLOCK, FLOAT, TENSOR, Call, Kernel, Op, prefix


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; math.erf is exact to double precision, which is the reference we want.
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))


@dataclass(frozen=True)
class _Row:
    name: str
    te_expr: Callable  # (x: te.Tensor, *scalars) -> te.Tensor; imports tvm lazily
    reference: Callable  # (x: ndarray, *scalars) -> ndarray
    dtypes: tuple[str, ...] = ("float32",)
    scalars: tuple[str, ...] = ()  # names of float attributes, passed to the kernel as scalars
    doc: str = ""
    out_dtype: str = ""  # the result's dtype when it is not the input's (isnan, isinf: bool)
    schedule: Callable | None = None  # (PrimFunc) -> PrimFunc when the elementwise schedule does not fit


def _tvm():
    import tvm
    from tvm import te, topi

    return tvm, te, topi


def _relu(x):
    tvm, te, _ = _tvm()
    return te.compute(x.shape, lambda *i: te.max(x(*i), tvm.tirx.const(0, x.dtype)))


def _map(x, fn):
    _, te, _ = _tvm()
    return te.compute(x.shape, lambda *i: fn(x(*i)))


def _sigmoid(x):
    # e = exp(-|x|) never overflows; e / (1 + e) for x < 0 keeps the relative accuracy of the small tail, where
    # 0.5 + 0.5 * tanh(x / 2) cancelled to 0.5's ulp (sigmoid(-20) was 0, silu(-13.6) 6 % off: a fuzz find)
    import tvm

    from ._fastmath import _Lets, exp

    one = _consts(1.0)[0]

    def fn(v):
        lets = _Lets()
        e = lets(exp(-tvm.tirx.abs(v)))
        d = lets(one + e)
        return lets.wrap(tvm.tirx.Select(v >= 0, one / d, e / d))

    return _map(x, fn)


def _tanh(x):
    return _tvm()[2].fast_tanh(x)


def _exp(x):
    from ._fastmath import exp  # ~1 ulp, overflows to inf like numpy (topi.fast_exp saturates)

    return _map(x, exp)


def _gelu(x):
    _, te, topi = _tvm()
    c, half, one = _consts(1 / math.sqrt(2), 0.5, 1.0)
    e = topi.fast_erf(_map(x, lambda v: v * c))
    return te.compute(x.shape, lambda *i: half * x(*i) * (one + e(*i)))


def _silu(x):
    _, te, _ = _tvm()
    s = _sigmoid(x)
    return te.compute(x.shape, lambda *i: x(*i) * s(*i))


def _log(x):
    from ._fastmath import log

    return _map(x, log)


def _sqrt(x):
    return _map(x, _tvm()[0].tirx.sqrt)


def _neg(x):
    return _map(x, lambda v: -v)


def _abs(x):
    return _map(x, _tvm()[0].tirx.abs)


def _clip(x, lo, hi):
    _, te, _ = _tvm()
    return _map(x, lambda v: te.min(te.max(v, lo), hi))


def _leaky_relu(x, alpha):
    tvm, _, _ = _tvm()
    return _map(x, lambda v: tvm.tirx.Select(v > tvm.tirx.const(0.0, "float32"), v, v * alpha))


def _elu(x, alpha, gamma=None):
    """alpha * (exp(x) - 1) below 0, x above; scaled by gamma for selu."""
    tvm, te, topi = _tvm()
    zero, one = _consts(0.0, 1.0)
    from ._fastmath import expm1

    # expm1 of the negative part only (no overflow): exp(x) - 1 lost the digits of small negatives (a fuzz find:
    # selu(-0.0017) was 1.4e-4 off)
    e = _map(x, lambda v: expm1(te.min(v, zero)))
    y = te.compute(x.shape, lambda *i: tvm.tirx.Select(x(*i) > zero, x(*i), alpha * e(*i)))
    return y if gamma is None else _map(y, lambda v: gamma * v)


def _softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)): exact for large |x|, no overflow."""
    tvm, te, topi = _tvm()
    zero, one = _consts(0.0, 1.0)
    e = topi.fast_exp(_map(x, lambda v: -tvm.tirx.abs(v)))
    from ._fastmath import log

    return te.compute(x.shape, lambda *i: te.max(x(*i), zero) + log(one + e(*i)))


def _np_elu(x, alpha):
    x = x.astype(np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


ROWS = [
    _Row("relu", _relu, lambda x: np.maximum(x, 0), ("float32", "int32"), doc="max(x, 0)"),
    _Row("sigmoid", _sigmoid, _np_sigmoid, doc="1 / (1 + exp(-x))"),
    _Row("tanh", _tanh, np.tanh, doc="hyperbolic tangent"),
    _Row("gelu", _gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), doc="x * Φ(x), the exact (erf) form"),
    _Row("silu", _silu, lambda x: x * _np_sigmoid(x), doc="x * sigmoid(x) (swish)"),
    _Row("exp", _exp, np.exp, doc="e ** x"),
    _Row("log", _log, np.log, doc="natural logarithm; log(0) = -inf, log(x < 0) = nan"),
    _Row("sqrt", _sqrt, np.sqrt, doc="square root; sqrt(x < 0) = nan"),
    _Row("neg", _neg, np.negative, ("float32", "int32"), doc="-x"),
    _Row("abs", _abs, np.abs, ("float32", "int32"), doc="|x|"),
    _Row(
        "clip",
        _clip,
        lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
        scalars=("min", "max"),
        doc="min(max(x, min), max)",
    ),
    _Row("relu6", lambda x: _clip(x, *_consts(0.0, 6.0)), lambda x: np.clip(x, 0, 6), doc="min(max(x, 0), 6)"),
    _Row(
        "leaky_relu",
        _leaky_relu,
        lambda x, a: np.where(x > 0, x, x * a),
        scalars=("alpha",),
        doc="x if x > 0 else alpha * x",
    ),
    _Row("elu", _elu, _np_elu, scalars=("alpha",), doc="x if x > 0 else alpha * (exp(x) - 1)"),
    _Row(
        "selu",
        _elu,
        lambda x, a, g: g * _np_elu(x, a),
        scalars=("alpha", "gamma"),
        doc="gamma * (x if x > 0 else alpha * (exp(x) - 1))",
    ),
    _Row("softplus", _softplus, lambda x: np.logaddexp(0, x.astype(np.float64)), doc="log(1 + exp(x))"),
]


def _consts(*values: float):
    tvm, _, _ = _tvm()
    return [tvm.tirx.const(v, "float32") for v in values]


class Unary(Op):
    """An elementwise op over a flattened tensor; attributes (clip bounds, alpha) are kernel scalars."""

    def __init__(self, row: _Row):
        self.row = row
        self.name = row.name
        self._kernels = {np.dtype(dt): f"{prefix(np.dtype(dt))}_{row.name}" for dt in row.dtypes}
        self.__doc__ = f"{row.name}(x): {row.doc}, elementwise; any shape, dtype {' or '.join(row.dtypes)}."

    def kernels(self) -> list[Kernel]:
        return [
            Kernel(
                f"{prefix(np.dtype(dt))}_{self.name}",
                lambda dt=dt: self._build(dt),
                (TENSOR, TENSOR) + (FLOAT,) * len(self.row.scalars),
            )
            for dt in self.row.dtypes
        ]

    def _build(self, dtype: str):
        from tvm import te

        from .simd_schedules import dims, prim_func, schedule_injective

        (n,) = dims("blocks")
        x = te.placeholder((n, BLOCK), dtype, name="x")
        scalars = [te.var(s, "float32") for s in self.row.scalars]
        y = self.row.te_expr(x, *scalars)
        return (self.row.schedule or schedule_injective)(prim_func([x, y, *scalars]))

    def reference(self, x, **attrs) -> np.ndarray:
        x = np.asarray(x)
        out = self.row.reference(x, *(attrs[s] for s in self.row.scalars))
        return np.asarray(out).astype(self.row.out_dtype or x.dtype)

    def plan(self, x, **attrs) -> Call:
        x = self.tensor(x, "x", self.row.dtypes)
        values = ()
        if attrs or self.row.scalars:  # the common attribute-free call skips this bookkeeping
            unknown = set(attrs) - set(self.row.scalars)
            if unknown:
                raise TypeError(f"{self.name}: unexpected attribute(s) {sorted(unknown)}")
            values = tuple(float(attrs[s]) for s in self.row.scalars)
            if self.name == "clip" and values[0] > values[1]:
                raise self.fail(f"min ({values[0]}) must not exceed max ({values[1]})")
        out_dtype = self.row.out_dtype or x.dtype
        return Call(self._kernels[x.dtype], [x], x.shape, out_dtype, values, blocked=True)


OPS = [Unary(row) for row in ROWS]

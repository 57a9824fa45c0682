"""Gradients of the elementwise activations (relu_grad, gelu_grad, gelu_tanh_grad, sigmoid_grad, tanh_grad,
silu_grad).

One table row per op: dx = dy * f'(a), where `a` is the forward's input x (relu, gelu, silu) or its output
y (sigmoid, tanh: f' is cheaper from y and the forward keeps y anyway). Kernels see both tensors as
(blocks, 16) rows (a blocked Call), so one compiled function serves every shape, like ops/unary.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .spec import BLOCK, TENSOR, Call, Kernel, Op
from .unary import _erf, _np_sigmoid


@dataclass(frozen=True)
class _Row:
    name: str
    arg: str  # "x" (the forward's input) or "y" (its output)
    te_expr: Callable  # (a: te.Tensor, dy: te.Tensor) -> te.Tensor; imports tvm lazily
    reference: Callable  # (a: float64 ndarray, dy: float64 ndarray) -> ndarray
    doc: str


def _map2(a, dy, fn):
    from tvm import te

    return te.compute(a.shape, lambda *i: fn(a(*i), dy(*i)), name="dx")


def _c(v: float):
    import tvm

    return tvm.tirx.const(v, "float32")


def _relu_grad(x, dy):
    import tvm

    return _map2(x, dy, lambda a, g: tvm.tirx.Select(a > _c(0.0), g, _c(0.0)))


def _gelu_grad(x, dy):
    """d/dx x * Φ(x) = Φ(x) + x * φ(x), with the same fast erf as the forward."""
    from tvm import te, topi

    from ._fastmath import exp

    e = topi.fast_erf(te.compute(x.shape, lambda *i: x(*i) * _c(1 / math.sqrt(2)), name="scaled"))
    inv_sqrt_2pi = _c(1 / math.sqrt(2 * math.pi))
    return te.compute(
        x.shape,
        lambda *i: dy(*i) * (_c(0.5) * (_c(1.0) + e(*i)) + x(*i) * inv_sqrt_2pi * exp(_c(-0.5) * x(*i) * x(*i))),
        name="dx",
    )


def _gelu_tanh_grad(x, dy):
    """d/dx of 0.5 x (1 + tanh(u)), u = c (x + k x³): 0.5 (1 + t) + 0.5 x (1 - t²) c (1 + 3 k x²), with
    the forward's fast tanh (MindSpore's nn.GELU defaults to this approximation)."""
    from tvm import te, topi

    c, k = math.sqrt(2 / math.pi), 0.044715
    t = topi.fast_tanh(te.compute(x.shape, lambda *i: _c(c) * (x(*i) + _c(k) * x(*i) * x(*i) * x(*i)), name="u"))

    def grad(*i):
        v, tv = x(*i), t(*i)
        # du overflows to inf from |x| ~ 5e19 while 1 - t² is already 0 (t = ±1 from |x| ~ 10): capping x²
        # keeps 0 * du at 0 (NaN x still gives NaN through the v factor)
        du = _c(c) * (_c(1.0) + _c(3 * k) * te.min(v * v, _c(1e4)))
        return dy(*i) * (_c(0.5) * (_c(1.0) + tv) + _c(0.5) * v * (_c(1.0) - tv * tv) * du)

    return te.compute(x.shape, grad, name="dx")


def _sigmoid_grad(y, dy):
    return _map2(y, dy, lambda s, g: g * s * (_c(1.0) - s))


def _tanh_grad(y, dy):
    return _map2(y, dy, lambda t, g: g * (_c(1.0) - t * t))


def _silu_grad(x, dy):
    """d/dx x * s(x) = s * (1 + x * (1 - s)), s from the forward's sigmoid (tanh form, no overflow)."""
    from tvm import te

    from .unary import _sigmoid

    s = _sigmoid(x)
    return te.compute(x.shape, lambda *i: dy(*i) * s(*i) * (_c(1.0) + x(*i) * (_c(1.0) - s(*i))), name="dx")


def _np_gelu_grad(x, dy):
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
    return dy * (cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))


def _np_gelu_tanh_grad(x, dy):
    c, k = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(c * (x + k * x**3))
    return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * k * x * x))


def _np_silu_grad(x, dy):
    s = _np_sigmoid(x)
    return dy * s * (1 + x * (1 - s))


ROWS = [
    _Row("relu_grad", "x", _relu_grad, lambda x, dy: np.where(x > 0, dy, 0.0), "dy where x > 0, else 0"),
    _Row("gelu_grad", "x", _gelu_grad, _np_gelu_grad, "dy * (Φ(x) + x φ(x)), the exact (erf) GELU"),
    _Row("gelu_tanh_grad", "x", _gelu_tanh_grad, _np_gelu_tanh_grad, "dy * d/dx gelu_tanh(x), the tanh approximation"),
    _Row("sigmoid_grad", "y", _sigmoid_grad, lambda y, dy: dy * y * (1 - y), "dy * y * (1 - y), y = sigmoid(x)"),
    _Row("tanh_grad", "y", _tanh_grad, lambda y, dy: dy * (1 - y * y), "dy * (1 - y²), y = tanh(x)"),
    _Row("silu_grad", "x", _silu_grad, _np_silu_grad, "dy * s * (1 + x (1 - s)), s = sigmoid(x)"),
]


class ActivationGrad(Op):
    """dx of an elementwise activation from the forward's x (or y) and the incoming gradient dy."""

    def __init__(self, row: _Row):
        self.row = row
        self.name = row.name
        self._kernel = f"f32_{row.name}"
        self.__doc__ = f"{row.name}({row.arg}, dy): {row.doc}; same-shape float32 arrays, any shape."

    def kernels(self) -> list[Kernel]:
        return [Kernel(self._kernel, self._build, (TENSOR,) * 3)]

    def _build(self):
        from tvm import te

        from .simd_schedules import dims, prim_func, schedule_injective

        (n,) = dims("blocks")
        a = te.placeholder((n, BLOCK), "float32", name=self.row.arg)
        dy = te.placeholder((n, BLOCK), "float32", name="dy")
        return schedule_injective(prim_func([a, dy, self.row.te_expr(a, dy)]))

    def reference(self, a, dy) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = self.row.reference(np.asarray(a, np.float64), np.asarray(dy, np.float64))
        return np.asarray(out).astype(np.float32)

    def _plan(self, a: np.ndarray, dy: np.ndarray) -> Call:
        a = self.tensor(a, self.row.arg)
        dy = self.tensor(dy, "dy")
        if a.shape != dy.shape:
            raise self.fail(f"{self.row.arg} has shape {a.shape} but dy has {dy.shape}; they must match")
        return Call(self._kernel, [a, dy], a.shape, np.float32, blocked=True)


class _FromX(ActivationGrad):
    def plan(self, x: np.ndarray, dy: np.ndarray) -> Call:
        """dx from the forward's input x (float32, any shape) and dy (x's shape); returns x's shape."""
        return self._plan(x, dy)


class _FromY(ActivationGrad):
    def plan(self, y: np.ndarray, dy: np.ndarray) -> Call:
        """dx from the forward's output y (float32, any shape) and dy (y's shape); returns y's shape."""
        return self._plan(y, dy)


OPS = [(_FromX if row.arg == "x" else _FromY)(row) for row in ROWS]

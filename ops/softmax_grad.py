"""softmax_grad and log_softmax_grad: dx from the forward's output y and the incoming gradient dy.

softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy), sums along `axis`.
Same layouts and schedules as ops/softmax.py: (outer, n) rows when the axis is the last one (the sum is a
16-lane row reduction under the row loop), (outer, n, inner) otherwise (vectorised along inner).
"""

from __future__ import annotations

import math

import numpy as np

from .spec import TENSOR, Call, Kernel, Op


class SoftmaxGrad(Op):
    def __init__(self, name: str):
        self.name = name
        self.log = name == "log_softmax_grad"
        formula = "dy - exp(y) * sum(dy)" if self.log else "y * (dy - sum(dy * y))"
        self.__doc__ = f"{name}(y, dy, axis=-1): {formula} along axis; y, dy float32 of one shape."

    def kernels(self) -> list[Kernel]:
        return [Kernel(f"f32_{self.name}_{v}", lambda v=v: self._build(v), (TENSOR,) * 3) for v in ("rows", "cols")]

    def _term(self, y, dy):
        """The summand: dy * y (softmax) or dy (log_softmax)."""
        return dy if self.log else dy * y

    def _out(self, y, dy, s):
        from . import _fastmath

        return dy - _fastmath.exp(y) * s if self.log else y * (dy - s)

    def _build(self, variant: str):
        from tvm import s_tir, te

        from ._simd import Reducer, row_reduce, row_stages, schedule_col_reduce, schedule_row_reduce, vector_loop
        from .simd_schedules import dims, prim_func

        if variant == "rows":
            outer, n = dims("outer", "n")
            y = te.placeholder((outer, n), "float32", name="y")
            dy = te.placeholder((outer, n), "float32", name="dy")
            s, _ = row_reduce(
                [outer], n, lambda i, _, k: self._term(y[i[0], k], dy[i[0], k]), Reducer.sum("float32"), "s"
            )
            out = te.compute((outer, n), lambda o, k: self._out(y[o, k], dy[o, k], s[o]), name="out")
            sch = s_tir.Schedule(prim_func([y, dy, out]))
            row, col = sch.get_loops(sch.get_sblock("out"))
            vector_loop(sch, col)
            schedule_row_reduce(sch, row_stages("s"), row)
            return sch.mod["main"]
        outer, n, inner = dims("outer", "n", "inner")
        y = te.placeholder((outer, n, inner), "float32", name="y")
        dy = te.placeholder((outer, n, inner), "float32", name="dy")
        k = te.reduce_axis((0, n), "k")
        s = te.compute((outer, inner), lambda o, i: te.sum(self._term(y[o, k, i], dy[o, k, i]), axis=k), name="s")
        out = te.compute((outer, n, inner), lambda o, j, i: self._out(y[o, j, i], dy[o, j, i], s[o, i]), name="out")
        sch = s_tir.Schedule(prim_func([y, dy, out]))
        schedule_col_reduce(sch, "s")
        vector_loop(sch, sch.get_loops(sch.get_sblock("out"))[-1])
        return sch.mod["main"]

    def reference(self, y, dy, axis=-1) -> np.ndarray:
        y, dy = np.asarray(y, np.float64), np.asarray(dy, np.float64)
        if self.log:
            out = dy - np.exp(y) * dy.sum(axis=axis, keepdims=True)
        else:
            out = y * (dy - (dy * y).sum(axis=axis, keepdims=True))
        return out.astype(np.float32)

    def plan(self, y: np.ndarray, dy: np.ndarray, axis: int = -1) -> Call:
        """y: the forward's output (float32, rank >= 1); dy: the gradient of y (y's shape); axis: the
        forward's axis. Returns dx, y's shape."""
        y, dy = self.tensor(y, "y"), self.tensor(dy, "dy")
        if y.ndim == 0:
            raise self.fail("y must have rank >= 1, got a 0-d array")
        if y.shape != dy.shape:
            raise self.fail(f"y has shape {y.shape} but dy has {dy.shape}; they must match")
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise TypeError(f"{self.name}: axis must be an int, got {axis!r}")
        ax = self.axis(int(axis), y.ndim)
        outer, n, inner = math.prod(y.shape[:ax]), y.shape[ax], math.prod(y.shape[ax + 1 :])
        if inner == 1:
            view = (outer, n)
            return Call(f"f32_{self.name}_rows", [y.reshape(view), dy.reshape(view)], view, np.float32, (), y.shape)
        view = (outer, n, inner)
        return Call(f"f32_{self.name}_cols", [y.reshape(view), dy.reshape(view)], view, np.float32, (), y.shape)


OPS = [SoftmaxGrad("softmax_grad"), SoftmaxGrad("log_softmax_grad")]

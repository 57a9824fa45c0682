"""layer_norm_backward: (dx, dgamma, dbeta) of layer_norm over the trailing axes from `axis`.

On the (rows, K) view: dgamma and dbeta are column sums over the rows (vectorised along the contiguous K
axis, ops/_simd.schedule_col_reduce), dx a row pass with two row sums (ops/_rowstats, under the row loop
while the row is in cache): with g = dy * gamma and xhat = (x - mean) * invstd,
dx = invstd * (g - mean_k(g) - xhat * mean_k(g * xhat)).
The saved statistics are the forward's mean and invstd = 1 / sqrt(var + eps), one per row.
"""

from __future__ import annotations

import math

import numpy as np

from ._multi import KeepCall
from .spec import TENSOR, Call, Kernel, Op


class LayerNormBackward(Op):
    name = "layer_norm_backward"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_layer_norm_backward_params", self._build_params, (TENSOR,) * 5),
            Kernel("f32_layer_norm_backward_dx", self._build_dx, (TENSOR,) * 6),
        ]

    @staticmethod
    def _build_params():
        import tvm
        from tvm import te

        from ._simd import schedule_col_reduce, vector_loop
        from .simd_schedules import dims, prim_func

        rows, k = dims("rows", "k")
        x, dy = (te.placeholder((rows, k), "float32", name=s) for s in ("x", "dy"))
        mean, inv = te.placeholder((rows,), "float32", name="mean"), te.placeholder((rows,), "float32", name="invstd")
        r1, r2 = te.reduce_axis((0, rows), "r1"), te.reduce_axis((0, rows), "r2")
        # (1, K) stages: schedule_col_reduce wants an outer spatial axis before the vectorised one
        dgamma = te.compute(
            (1, k), lambda _, j: te.sum(dy[r1, j] * (x[r1, j] - mean[r1]) * inv[r1], axis=r1), name="dgamma"
        )
        dbeta = te.compute((1, k), lambda _, j: te.sum(dy[r2, j], axis=r2), name="dbeta")
        out = te.compute((2, k), lambda i, j: tvm.tirx.Select(i == 0, dgamma[0, j], dbeta[0, j]), name="out")
        sch = tvm.s_tir.Schedule(prim_func([x, dy, mean, inv, out]))
        schedule_col_reduce(sch, "dgamma")
        schedule_col_reduce(sch, "dbeta")
        vector_loop(sch, sch.get_loops(sch.get_sblock("out"))[-1])
        return sch.mod["main"]

    @staticmethod
    def _build_dx():
        import tvm
        from tvm import te

        from ._rowstats import row_sum, schedule_row_sum
        from .simd_schedules import dims, prim_func

        rows, k = dims("rows", "k")
        x, dy = (te.placeholder((rows, k), "float32", name=s) for s in ("x", "dy"))
        gamma = te.placeholder((k,), "float32", name="gamma")
        mean, inv = te.placeholder((rows,), "float32", name="mean"), te.placeholder((rows,), "float32", name="invstd")
        kf = k.astype("float32")

        def xhat(r, j):
            return (x[r, j] - mean[r]) * inv[r]

        s1 = row_sum(lambda r, j: dy[r, j] * gamma[j], rows, k, "s1")
        s2 = row_sum(lambda r, j: dy[r, j] * gamma[j] * xhat(r, j), rows, k, "s2")
        dx = te.compute(
            (rows, k),
            lambda r, j: inv[r] * (dy[r, j] * gamma[j] - s1[r] / kf - xhat(r, j) * (s2[r] / kf)),
            name="dx",
        )
        sch = tvm.s_tir.Schedule(prim_func([x, dy, gamma, mean, inv, dx]))
        row = sch.get_loops(sch.get_sblock("dx"))[0]  # the column loop is left to LLVM's vectoriser
        schedule_row_sum(sch, "s2", row)
        schedule_row_sum(sch, "s1", row)
        return sch.mod["main"]

    def reference(self, x, dy, gamma, mean, invstd, axis: int = -1):
        x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
        ax = self.axis(axis, x.ndim)
        rows, k = math.prod(x.shape[:ax]), math.prod(x.shape[ax:])
        x2, dy2 = x.reshape(rows, k), dy.reshape(rows, k)
        m = np.asarray(mean, np.float64).reshape(rows, 1)
        inv = np.asarray(invstd, np.float64).reshape(rows, 1)
        xhat = (x2 - m) * inv
        g = dy2 * np.asarray(gamma, np.float64).reshape(1, k)
        dx = inv * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
        norm_shape = x.shape[ax:]
        dgamma, dbeta = (dy2 * xhat).sum(axis=0).reshape(norm_shape), dy2.sum(axis=0).reshape(norm_shape)
        return tuple(a.astype(np.float32) for a in (dx.reshape(x.shape), dgamma, dbeta))

    def plan(
        self, x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, mean: np.ndarray, invstd: np.ndarray, axis: int = -1
    ) -> list[Call]:
        """Gradients of layer_norm(x, gamma, beta, axis) normalising over x.shape[axis:].

        x, dy: float32 of one shape; gamma: x.shape[axis:] (or that many values); mean, invstd: the
        forward's statistics, one per row (prod(x.shape[:axis]) values, any shape, e.g. with kept dims).
        Returns (dx, dgamma, dbeta), dgamma and dbeta of x.shape[axis:]."""
        x = self.tensor(x, "x", ndim=range(1, 9))
        dy = self.tensor(dy, "dy", ndim=range(1, 9))
        if dy.shape != x.shape:
            raise self.fail(f"dy has shape {dy.shape} but x has {x.shape}; they must match")
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise TypeError(f"{self.name}: axis must be an int, got {axis!r}")
        ax = self.axis(int(axis), x.ndim)
        rows, k = math.prod(x.shape[:ax]), math.prod(x.shape[ax:])
        gamma = self.tensor(gamma, "gamma", ndim=range(0, 9))
        if gamma.size != k:
            raise self.fail(f"gamma has {gamma.size} values; x.shape[{axis}:] = {x.shape[ax:]} needs {k}")
        stats = []
        for value, what in ((mean, "mean"), (invstd, "invstd")):
            v = self.tensor(value, what, ndim=range(0, 9))
            if v.size != rows:
                raise self.fail(f"{what} has {v.size} values; x has {rows} rows (x.shape[:{axis}] = {x.shape[:ax]})")
            stats.append(v.reshape(rows))
        view = (rows, k)
        xv, dyv = x.reshape(view), dy.reshape(view)
        return [
            KeepCall("f32_layer_norm_backward_params", [xv, dyv, *stats], (2, k), np.float32, (), (2, *x.shape[ax:])),
            Call("f32_layer_norm_backward_dx", [xv, dyv, gamma.reshape(k), *stats], view, np.float32, (), x.shape),
        ]

    def results(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        params, dx = outputs
        return dx, params[0], params[1]


OPS = [LayerNormBackward()]

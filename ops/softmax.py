"""softmax and log_softmax over any axis, numerically stable (the row max is subtracted before exp).

The host views x as (outer, n, inner) around `axis`. Two kernels per op:

* "rows" (inner == 1, the softmax over the last axis of attention scores): per row, the max and the sum of
  exp run in 16 lanes plus a scalar tail and stay in registers; the output loop is vectorised.
* "cols" (inner > 1, e.g. softmax over the channels of NCHW): the max and the sum are vectorised along the
  contiguous inner axis, each 16-wide accumulator streaming the n rows through.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import TENSOR, Call, Kernel, Op, prefix


class Softmax(Op):
    """softmax(x) = exp(x - max) / sum(exp(x - max)); log_softmax(x) = x - max - log(sum(exp(x - max)))."""

    def __init__(self, name: str):
        self.name = name
        self.log = name == "log_softmax"
        formula = "x - max - log(sum(exp(x - max)))" if self.log else "exp(x - max) / sum(exp(x - max))"
        self.__doc__ = (
            f"{name}(x, axis=-1): {formula} along `axis` (negative counts from the end); x of any rank >= 1, "
            "float32; the result has x's shape. A row that is all -inf gives nan, as the formula does."
        )

    def kernels(self) -> list[Kernel]:
        return [Kernel(f"f32_{self.name}_{v}", lambda v=v: self._build(v), (TENSOR, TENSOR)) for v in ("rows", "cols")]

    def _build(self, variant: str):
        from tvm import s_tir

        sch = s_tir.Schedule(self._rows() if variant == "rows" else self._cols())
        if variant == "rows":
            self._schedule_rows(sch)
        else:
            self._schedule_cols(sch)
        return sch.mod["main"]

    def _rows(self):
        """x (outer, n), normalised along n: the row max and sum are `row_reduce`s; `e` holds exp(x - max)."""
        from tvm import te

        from . import _fastmath
        from ._simd import Reducer, row_reduce
        from .simd_schedules import dims, prim_func

        outer, n = dims("outer", "n")
        x = te.placeholder((outer, n), "float32", name="x")
        mx, _ = row_reduce([outer], n, lambda i, _, k: x[i[0], k], Reducer.max("float32"), "mx")
        e = te.compute((outer, n), lambda o, k: _fastmath.exp(x[o, k] - mx[o]), name="e")
        sm, _ = row_reduce([outer], n, lambda i, _, k: e[i[0], k], Reducer.sum("float32"), "sm")
        if self.log:
            # (x - max) - log(sum), never x - (max + log(sum)): with |max| ~1e13 the sum's log vanishes in it
            lse = te.compute((outer,), lambda o: _fastmath.log(sm[o]), name="lse")
            out = te.compute((outer, n), lambda o, k: (x[o, k] - mx[o]) - lse[o], name="out")
        else:
            inv = te.compute((outer,), lambda o: 1.0 / sm[o], name="inv")
            out = te.compute((outer, n), lambda o, k: e[o, k] * inv[o], name="out")
        return prim_func([x, out])

    def _schedule_rows(self, sch) -> None:
        """Everything per row under the row loop: max and sum stay in registers, `e` is one row long."""
        from ._simd import row_stages, schedule_row_reduce, vector_loop

        row, col = sch.get_loops(sch.get_sblock("out"))
        vector_loop(sch, col)
        sch.compute_at(sch.get_sblock("lse" if self.log else "inv"), row)
        schedule_row_reduce(sch, row_stages("sm"), row)
        if self.log:  # exp(x - max) only feeds the sum
            sch.compute_inline(sch.get_sblock("e"))
        else:  # kept for the output: exp once per element, not twice
            sch.compute_at(sch.get_sblock("e"), row)
            vector_loop(sch, sch.get_loops(sch.get_sblock("e"))[-1])
        schedule_row_reduce(sch, row_stages("mx"), row)

    def _cols(self):
        """x (outer, n, inner), normalised along n: max and sum are (outer, inner) stages."""
        from tvm import te

        from . import _fastmath
        from ._simd import Reducer
        from .simd_schedules import dims, prim_func

        outer, n, inner = dims("outer", "n", "inner")
        x = te.placeholder((outer, n, inner), "float32", name="x")
        k = te.reduce_axis((0, n), "k")
        mx = te.compute((outer, inner), lambda o, i: Reducer.max("float32").reduce(x[o, k, i], axis=k), name="mx")
        k2 = te.reduce_axis((0, n), "k2")
        sm = te.compute((outer, inner), lambda o, i: te.sum(_fastmath.exp(x[o, k2, i] - mx[o, i]), axis=k2), name="sm")
        if self.log:
            lse = te.compute((outer, inner), lambda o, i: _fastmath.log(sm[o, i]), name="lse")
            out = te.compute((outer, n, inner), lambda o, j, i: (x[o, j, i] - mx[o, i]) - lse[o, i], name="out")
        else:
            inv = te.compute((outer, inner), lambda o, i: 1.0 / sm[o, i], name="inv")
            out = te.compute(
                (outer, n, inner), lambda o, j, i: _fastmath.exp(x[o, j, i] - mx[o, i]) * inv[o, i], name="out"
            )
        return prim_func([x, out])

    def _schedule_cols(self, sch) -> None:
        """Each stage vectorised along the contiguous inner axis."""
        from ._simd import schedule_col_reduce, vector_loop

        schedule_col_reduce(sch, "mx")
        schedule_col_reduce(sch, "sm")
        for name in ("lse" if self.log else "inv", "out"):
            vector_loop(sch, sch.get_loops(sch.get_sblock(name))[-1])

    def reference(self, x, axis=-1) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if x.size == 0:  # nothing to normalise (np.max would refuse the empty axis)
            return np.zeros(x.shape, np.float32)
        with np.errstate(all="ignore"):
            shifted = x - np.max(x, axis=axis, keepdims=True)
            total = np.sum(np.exp(shifted), axis=axis, keepdims=True)
            out = shifted - np.log(total) if self.log else np.exp(shifted) / total
        return out.astype(np.float32)

    def plan(self, x: np.ndarray, axis: int = -1) -> Call:
        x = self.tensor(x, "x")
        if x.ndim == 0:
            raise self.fail("x must have rank >= 1, got a 0-d array")
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise TypeError(f"{self.name}: axis must be an int, got {axis!r}")
        ax = self.axis(int(axis), x.ndim)
        outer, n, inner = math.prod(x.shape[:ax]), x.shape[ax], math.prod(x.shape[ax + 1 :])
        if inner == 1:
            return Call(
                f"{prefix(x.dtype)}_{self.name}_rows", [x.reshape(outer, n)], (outer, n), x.dtype, result_shape=x.shape
            )
        return Call(
            f"{prefix(x.dtype)}_{self.name}_cols",
            [x.reshape(outer, n, inner)],
            (outer, n, inner),
            x.dtype,
            result_shape=x.shape,
        )


OPS = [Softmax("softmax"), Softmax("log_softmax")]

"""lrn: local response normalisation across channels (ONNX LRN; AlexNet, ZFNet, Inception v1 / GoogLeNet).

The host views x as (N, C, S) with S the flattened spatial axes. For each (n, c) the kernel sums the
squares of channels [c - floor((size-1)/2), c + ceil((size-1)/2)] (clipped to [0, C)) one contiguous row
at a time, so every loop runs along S and vectorises. The power is exp(-beta * ln(base)) with the libm-free
float32 exp / log of ops/_fastmath.py (wasm has no libm); base >= bias > 0 for every sensible attribute.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import FLOAT, INT, TENSOR, Call, Kernel, Op

VEC = 16


def _vector(sch, outer, inner) -> None:
    """Vectorise `inner`; the hint lets TVM peel the predicated tail off `outer` (else it scalarises)."""
    sch.vectorize(inner)
    sch.annotate(outer, "pragma_loop_partition_hint", 1)


def _build(beta_075: bool):
    """beta_075: the kernel for beta = 0.75 (every classic model): base ** -0.75 = 1 / (sqrt(b) * sqrt(sqrt(b)))
    with wasm's native f32x4.sqrt, ~4x faster than exp(-beta * log(base)); the beta scalar is then unused."""
    import tvm
    from tvm import te

    from . import _fastmath
    from .simd_schedules import dims, prim_func

    n, c, s = dims("n", "c", "s")
    size, before = te.var("size", "int32"), te.var("before", "int32")
    alpha_over_size, beta, bias = (te.var(v, "float32") for v in ("alpha_over_size", "beta", "bias"))
    x = te.placeholder((n, c, s), "float32", name="x")
    zero, one = tvm.tirx.const(0.0, "float32"), tvm.tirx.const(1.0, "float32")
    r = te.reduce_axis((0, size), "r")

    def square(b, k, i):
        # the window row if it exists, else 0: if_then_else (a branch; uniform along the row, so the row
        # still vectorises) rather than a Select, which would load the missing row too
        row = k + r - before
        v = x[b, row, i]
        return te.if_then_else(tvm.tirx.all(row >= 0, row < c), v * v, zero)

    total = te.compute((n, c, s), lambda b, k, i: te.sum(square(b, k, i), axis=r), name="total")

    def normalise(b, k, i):
        base = bias + alpha_over_size * total[b, k, i]
        if beta_075:
            root = tvm.tirx.sqrt(base)
            return x[b, k, i] * (one / (root * tvm.tirx.sqrt(root)))
        return x[b, k, i] * _fastmath.exp(-beta * _fastmath.log(base))

    y = te.compute((n, c, s), normalise, name="y")
    sch = tvm.s_tir.Schedule(prim_func([x, y, size, before, alpha_over_size, beta, bias]))
    *_, row, col = sch.get_loops(sch.get_sblock("y"))
    _vector(sch, *sch.split(col, [None, VEC]))
    # one channel row of window sums at a time (a row-sized workspace, still in cache for the next step),
    # by 16-wide chunks with the window rows inside. (Keeping a chunk's sums in registers instead, computed
    # per chunk of y, was 2x faster but reads up to 15 floats past the last row: not always in bounds.)
    tot = sch.get_sblock("total")
    sch.compute_at(tot, row)
    i, rr = sch.get_loops(tot)[-2:]
    chunk, lanes = sch.split(i, [None, VEC])
    sch.reorder(chunk, rr, lanes)
    _vector(sch, chunk, lanes)
    sch.decompose_reduction(tot, rr)
    return sch.mod["main"]


class Lrn(Op):
    """Local response normalisation over the channel axis."""

    name = "lrn"

    def kernels(self) -> list[Kernel]:
        params = (TENSOR, TENSOR, INT, INT, FLOAT, FLOAT, FLOAT)
        return [Kernel("f32_lrn", lambda: _build(False), params), Kernel("f32_lrn_b075", lambda: _build(True), params)]

    def reference(self, x, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0) -> np.ndarray:
        x = np.asarray(x)
        xd = x.astype(np.float64)
        c = x.shape[1]
        lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
        square_sum = np.zeros_like(xd)
        for k in range(c):
            square_sum[:, k] = (xd[:, max(0, k - lo) : min(c, k + hi + 1)] ** 2).sum(axis=1)
        return (xd / (bias + alpha / size * square_sum) ** beta).astype(x.dtype)

    def plan(self, x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0) -> Call:
        """Local response normalisation across channels, ONNX LRN semantics.

        y[n, c, ...] = x[n, c, ...] / (bias + alpha / size * square_sum[n, c, ...]) ** beta, where
        square_sum sums x ** 2 over channels c - floor((size - 1) / 2) .. c + ceil((size - 1) / 2) that
        exist. x: float32 (N, C, D1, ...), rank >= 3 (NCHW for images); size >= 1 (odd in practice: 5 in
        AlexNet / GoogLeNet); bias > 0 keeps the base positive. Returns float32 with x's shape.
        """
        x = self.tensor(x, "x")
        if x.ndim < 3:
            raise self.fail(f"x must have rank >= 3 (N, C, D1, ...), got shape {x.shape}")
        if not isinstance(size, int | np.integer) or size < 1:
            raise self.fail(f"size must be a positive int, got {size!r}")
        alpha, beta, bias = (float(v) for v in (alpha, beta, bias))
        if not all(math.isfinite(v) for v in (alpha, beta, bias)):
            raise self.fail(f"alpha, beta and bias must be finite, got {alpha}, {beta}, {bias}")
        if bias <= 0 or alpha < 0:
            raise self.fail(f"bias must be > 0 and alpha >= 0 (the base must stay positive), got {bias}, {alpha}")
        n, c = x.shape[:2]
        s = math.prod(x.shape[2:])
        scalars = (int(size), (int(size) - 1) // 2, alpha / size, beta, bias)
        kernel = "f32_lrn_b075" if beta == 0.75 else "f32_lrn"
        return Call(kernel, [x.reshape(n, c, s)], (n, c, s), x.dtype, scalars, x.shape)


OPS = [Lrn()]

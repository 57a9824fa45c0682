"""Normalisation ops: batch_norm (inference, over axis 1) and layer_norm (over the trailing axes).

Both run on host-collapsed low-rank views, so one kernel serves every rank: batch_norm on
(N, C, inner) with per-channel parameters, layer_norm on (rows, K) rows with per-element scale / bias.
Row statistics are float32 two-pass (mean, then mean of squared deviations), as ONNX specifies; the
references compute in float64.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import FLOAT, TENSOR, Call, Kernel, Op


def _epsilon(op: Op, epsilon: float) -> float:
    eps = float(epsilon)
    if not math.isfinite(eps) or eps < 0:
        raise op.fail(f"epsilon must be a finite number >= 0, got {epsilon!r}")
    return eps


class BatchNorm(Op):
    """Inference batch normalisation with running statistics."""

    name = "batch_norm"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_batch_norm", self._build, (TENSOR,) * 6 + (FLOAT,))]

    @staticmethod
    def _build():
        import tvm
        from tvm import te

        from .simd_schedules import dims, prim_func

        n, c, i = dims("n", "c", "inner")
        x = te.placeholder((n, c, i), "float32", name="x")
        scale, bias, mean, var = (te.placeholder((c,), "float32", name=s) for s in ("scale", "bias", "mean", "var"))
        eps = te.var("epsilon", "float32")
        one = tvm.tirx.const(1.0, "float32")
        # 1 / sqrt(var + eps) once per channel (C sqrt / div), not per element; it multiplies x - mean before
        # scale does, in the definition's order: a folded scale * rstd underflowed to 0 for a subnormal scale
        # and made an infinite x NaN where the definition gives ±inf (a fuzz find)
        rstd = te.compute((c,), lambda k: one / tvm.tirx.sqrt(var[k] + eps), name="rstd")
        out = te.compute((n, c, i), lambda a, k, j: (x[a, k, j] - mean[k]) * rstd[k] * scale[k] + bias[k], name="out")
        # no TVM vectorize: with a symbolic extent its tail predicate makes TVM scalarise the loop, while
        # LLVM vectorises this plain contiguous loop itself (v128 body + scalar remainder)
        return prim_func([x, scale, bias, mean, var, out, eps])

    def reference(self, x, scale, bias, mean, var, epsilon: float = 1e-5) -> np.ndarray:
        x = np.asarray(x)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        p = [np.asarray(a, np.float64).reshape(shape) for a in (scale, bias, mean)]
        # var + epsilon is a float32 sum, as in onnxruntime and onnx's reference evaluator: a var of -epsilon
        # (not a variance, but drawn by the fuzz) makes it exactly 0 and the result ±inf, not a float64 2.5e-14
        v = (np.asarray(var, np.float32) + np.float32(epsilon)).astype(np.float64).reshape(shape)
        y = (x.astype(np.float64) - p[2]) / np.sqrt(v) * p[0] + p[1]
        return y.astype(x.dtype)

    def plan(
        self,
        x: np.ndarray,
        scale: np.ndarray,
        bias: np.ndarray,
        mean: np.ndarray,
        var: np.ndarray,
        epsilon: float = 1e-5,
    ) -> Call:
        """Inference-mode batch normalisation over axis 1 (ONNX BatchNormalization, PyTorch eval mode).

        y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]

        x: float32 (N, C, ...) of rank >= 2 (NCHW for images); scale, bias, mean, var: float32 (C,)
        (the running statistics). Returns float32 with x's shape.
        """
        x = self.tensor(x, "x")
        if x.ndim < 2:
            raise self.fail(f"x must have rank >= 2 (N, C, ...), got shape {x.shape}")
        c = x.shape[1]
        params = []
        for what, value in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var)):
            arr = self.tensor(value, what, ndim=1)
            if arr.shape != (c,):
                raise self.fail(f"{what} must have shape ({c},) to match x's channels, got {arr.shape}")
            params.append(arr)
        eps = _epsilon(self, epsilon)
        n, inner = x.shape[0], int(np.prod(x.shape[2:], dtype=np.int64))
        return Call("f32_batch_norm", [x.reshape(n, c, inner), *params], (n, c, inner), x.dtype, (eps,), x.shape)


class LayerNorm(Op):
    """Layer normalisation over the trailing axes (ONNX LayerNormalization)."""

    name = "layer_norm"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_layer_norm", self._build, (TENSOR,) * 4 + (FLOAT,))]

    @staticmethod
    def _build():
        import tvm
        from tvm import te

        from ._rowstats import row_sum, schedule_row_sum
        from .simd_schedules import dims, prim_func

        rows, k = dims("rows", "k")
        x = te.placeholder((rows, k), "float32", name="x")
        scale = te.placeholder((k,), "float32", name="scale")
        bias = te.placeholder((k,), "float32", name="bias")
        eps = te.var("epsilon", "float32")
        one = tvm.tirx.const(1.0, "float32")
        kf = k.astype("float32")
        # the mean is taken of x - x[r, 0] (shifted data): a row of equal values gets its exact mean, so 0 after
        # normalising, where the plain float32 sum of 60 values of 8e14 left O(1) noise (a fuzz find)
        first = te.compute((rows,), lambda r: tvm.tirx.if_then_else(k > 0, x[r, 0], 0.0), name="first")
        total = row_sum(lambda r, j: x[r, j] - first[r], rows, k, "sum")
        mean = te.compute((rows,), lambda r: first[r] + total[r] / kf, name="mean")

        def sq_dev(r, j):
            d = x[r, j] - mean[r]
            return d * d

        ssd = row_sum(sq_dev, rows, k, "ssd")
        rstd = te.compute((rows,), lambda r: one / tvm.tirx.sqrt(ssd[r] / kf + eps), name="rstd")
        out = te.compute((rows, k), lambda r, j: (x[r, j] - mean[r]) * rstd[r] * scale[j] + bias[j], name="out")
        sch = tvm.s_tir.Schedule(prim_func([x, scale, bias, out, eps]))
        row = sch.get_loops(sch.get_sblock("out"))[0]  # the column loop is left to LLVM's vectoriser
        # every row statistic is computed just before its row is written, while the row is in cache
        sch.compute_at(sch.get_sblock("rstd"), row)
        schedule_row_sum(sch, "ssd", row)
        sch.compute_at(sch.get_sblock("mean"), row)
        schedule_row_sum(sch, "sum", row)
        sch.compute_at(sch.get_sblock("first"), row)
        return sch.mod["main"]

    def reference(self, x, scale=None, bias=None, axis: int = -1, epsilon: float = 1e-5) -> np.ndarray:
        x = np.asarray(x)
        axes = tuple(range(axis % x.ndim, x.ndim))
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=axes, keepdims=True)
        var = ((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (x64 - mean) / np.sqrt(var + epsilon)
        if scale is not None:
            y = y * np.asarray(scale, np.float64)
        if bias is not None:
            y = y + np.asarray(bias, np.float64)
        return y.astype(x.dtype)

    def _param(self, value, what: str, norm_shape: tuple[int, ...], default: float) -> np.ndarray:
        if value is None:
            return np.full(norm_shape, default, np.float32).reshape(-1)
        arr = self.tensor(value, what)
        if arr.ndim > len(norm_shape):
            raise self.fail(f"{what} of shape {arr.shape} has more axes than the normalised shape {norm_shape}")
        try:
            arr = np.broadcast_to(arr, norm_shape)
        except ValueError:
            raise self.fail(
                f"{what} of shape {arr.shape} does not broadcast to the normalised shape {norm_shape}"
            ) from None
        return np.ascontiguousarray(arr).reshape(-1)

    def plan(
        self,
        x: np.ndarray,
        scale: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        axis: int = -1,
        epsilon: float = 1e-5,
    ) -> Call:
        """Layer normalisation over the axes from `axis` to the last (ONNX LayerNormalization).

        y = (x - mean) / sqrt(var + epsilon) * scale + bias, with mean and (biased) variance taken over
        x.shape[axis:] for each index of x.shape[:axis].

        x: float32 of rank >= 1, e.g. (batch, seq, hidden) with axis=-1. scale, bias: float32 arrays
        broadcastable to x.shape[axis:] (None = 1 and 0). Returns float32 with x's shape.
        """
        x = self.tensor(x, "x")
        if x.ndim < 1:
            raise self.fail("x must have rank >= 1")
        ax = self.axis(axis, x.ndim)
        norm_shape = x.shape[ax:]
        eps = _epsilon(self, epsilon)
        s = self._param(scale, "scale", norm_shape, 1.0)
        b = self._param(bias, "bias", norm_shape, 0.0)
        k = int(np.prod(norm_shape, dtype=np.int64))
        rows = int(np.prod(x.shape[:ax], dtype=np.int64))
        return Call("f32_layer_norm", [x.reshape(rows, k), s, b], (rows, k), x.dtype, (eps,), x.shape)


OPS = [BatchNorm(), LayerNorm()]

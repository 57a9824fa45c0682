"""Batch normalisation for training: batch_norm_train (batch statistics + running-statistics update) and
batch_norm_backward (dx, dgamma, dbeta), over axis 1 of (N, C, ...) float32.

MindSpore's convention (checked against nn.BatchNorm2d on this machine): the output is normalised with the
biased batch variance; running_mean' = momentum * running_mean + (1 - momentum) * batch_mean and
running_var' = momentum * running_var + (1 - momentum) * unbiased batch variance (momentum 0.9 there;
PyTorch's momentum m is MindSpore's 1 - m). The saved statistics are the batch mean and invstd =
1 / sqrt(biased var + eps), which batch_norm_backward takes.

Each op is a chain of two kernels on the (N, C, inner) view: per-channel sums (16-lane partials over the
contiguous inner axis, then the images), kept as a (k, C) result, then the elementwise pass that reads them.
"""

from __future__ import annotations

import math

import numpy as np

from ._multi import KeepCall
from .norm import _epsilon
from .spec import FLOAT, PREV, TENSOR, Call, Kernel, Op

VEC = 16


def _channel_sum(te, value, n, c, inner, name: str):
    """sum over images b < n and k < inner of value(b, ch, k), per channel: 16 lane-partials over the
    whole 16-chunks of each row, a scalar tail, then the lanes."""
    blocks = inner // VEC
    b, ko = te.reduce_axis((0, n), f"{name}_b"), te.reduce_axis((0, blocks), f"{name}_ko")
    part = te.compute(
        (c, VEC), lambda ch, lane: te.sum(value(b, ch, ko * VEC + lane), axis=[b, ko]), name=f"{name}_part"
    )
    bt, t = te.reduce_axis((0, n), f"{name}_bt"), te.reduce_axis((0, inner - blocks * VEC), f"{name}_t")
    tail = te.compute((c,), lambda ch: te.sum(value(bt, ch, blocks * VEC + t), axis=[bt, t]), name=f"{name}_tail")
    lane = te.reduce_axis((0, VEC), f"{name}_lane")
    lanes = te.compute((c,), lambda ch: te.sum(part[ch, lane], axis=lane), name=f"{name}_lanes")
    return te.compute((c,), lambda ch: lanes[ch] + tail[ch], name=name)


def _schedule_sums(sch, *names: str) -> None:
    """Each partial-sum stage: channels on the thread pool, lanes vectorised innermost."""
    for name in names:
        part = sch.get_sblock(f"{name}_part")
        ch, lane, b, ko = sch.get_loops(part)
        sch.reorder(ch, b, ko, lane)
        sch.vectorize(lane)
        sch.parallel(ch)  # before decompose_reduction, whose update block the parallel check refuses
        sch.decompose_reduction(part, b)
        tail = sch.get_sblock(f"{name}_tail")
        sch.decompose_reduction(tail, sch.get_loops(tail)[1])


def _view(op: Op, x, what: str = "x") -> tuple[np.ndarray, tuple[int, int, int]]:
    x = op.tensor(x, what, ndim=range(2, 9))
    n, c = x.shape[:2]
    return x, (n, c, math.prod(x.shape[2:]))


def _vector(op: Op, value, c: int, what: str) -> np.ndarray:
    v = op.tensor(value, what, ndim=1)
    if v.shape != (c,):
        raise op.fail(f"{what} must have shape ({c},) (one value per channel), got {v.shape}")
    return v


class BatchNormTrain(Op):
    name = "batch_norm_train"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_batch_norm_train_stats", self._build_stats, (TENSOR,) * 4 + (FLOAT,) * 2),
            Kernel("f32_batch_norm_train_apply", self._build_apply, (TENSOR,) * 5),
        ]

    @staticmethod
    def _build_stats():
        import tvm
        from tvm import te

        from .simd_schedules import dims, prim_func

        n, c, i = dims("n", "c", "inner")
        x = te.placeholder((n, c, i), "float32", name="x")
        rm, rv = (
            te.placeholder((c,), "float32", name="running_mean"),
            te.placeholder((c,), "float32", name="running_var"),
        )
        momentum, eps = te.var("momentum", "float32"), te.var("eps", "float32")
        count = (n * i).astype("float32")
        one = tvm.tirx.const(1.0, "float32")
        total = _channel_sum(te, lambda b, ch, k: x[b, ch, k], n, c, i, "s1")
        rough = te.compute((c,), lambda ch: total[ch] / count, name="rough")
        # the corrected two-pass mean: + mean(x - rough) takes out the float32 sum's rounding, so a constant
        # channel has its value as mean and variance 0 (not ulp(x)², which made invstd 1e-8 for x ~ 5e14)
        shift = _channel_sum(te, lambda b, ch, k: x[b, ch, k] - rough[ch], n, c, i, "s3")
        mean = te.compute(  # an infinite x makes the correction inf - inf: the plain mean is ±inf (or NaN)
            (c,),
            lambda ch: tvm.tirx.Select(tvm.tirx.isfinite(shift[ch]), rough[ch] + shift[ch] / count, rough[ch]),
            name="mean",
        )

        def sq(b, ch, k):
            d = x[b, ch, k] - mean[ch]
            return d * d

        ssd = _channel_sum(te, sq, n, c, i, "s2")

        def stat(row, ch):
            var = ssd[ch] / count
            new_rm = momentum * rm[ch] + (one - momentum) * mean[ch]
            new_rv = momentum * rv[ch] + (one - momentum) * ssd[ch] / (count - one)
            inv = one / tvm.tirx.sqrt(var + eps)
            return tvm.tirx.Select(
                row == 0, mean[ch], tvm.tirx.Select(row == 1, inv, tvm.tirx.Select(row == 2, new_rm, new_rv))
            )

        out = te.compute((4, c), stat, name="out")
        sch = tvm.s_tir.Schedule(prim_func([x, rm, rv, out, momentum, eps]))
        _schedule_sums(sch, "s1", "s3", "s2")
        return sch.mod["main"]

    @staticmethod
    def _build_apply():
        from tvm import te

        from .simd_schedules import dims, prim_func

        n, c, i = dims("n", "c", "inner")
        x = te.placeholder((n, c, i), "float32", name="x")
        gamma, beta = te.placeholder((c,), "float32", name="gamma"), te.placeholder((c,), "float32", name="beta")
        stats = te.placeholder((4, c), "float32", name="stats")
        # (x - mean) * invstd * gamma + beta, not x * mul + (beta - mean * mul) with mul = gamma * invstd: an
        # infinite gamma gave inf - inf = NaN for the reference's ±inf, a subnormal gamma times a small invstd
        # underflowed to 0 (and 0 * inf = NaN); xhat = (x - mean) * invstd is at most sqrt(count)
        y = te.compute(
            (n, c, i), lambda b, ch, k: (x[b, ch, k] - stats[0, ch]) * stats[1, ch] * gamma[ch] + beta[ch], name="y"
        )
        # the contiguous inner loop is left to LLVM's vectoriser (as batch_norm's)
        return prim_func([x, gamma, beta, stats, y])

    def reference(self, x, gamma, beta, running_mean, running_var, momentum=0.9, eps=1e-5):
        x = np.asarray(x, np.float64)
        axes = (0, *range(2, x.ndim))
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        inv = 1 / np.sqrt(var + eps)
        y = (x - mean.reshape(shape)) * (inv * np.asarray(gamma, np.float64)).reshape(shape)
        y = y + np.asarray(beta, np.float64).reshape(shape)
        unbiased = x.var(axis=axes, ddof=1)
        new_rm = momentum * np.asarray(running_mean, np.float64) + (1 - momentum) * mean
        new_rv = momentum * np.asarray(running_var, np.float64) + (1 - momentum) * unbiased
        return tuple(a.astype(np.float32) for a in (y, mean, inv, new_rm, new_rv))

    def plan(
        self,
        x: np.ndarray,
        gamma: np.ndarray,
        beta: np.ndarray,
        running_mean: np.ndarray,
        running_var: np.ndarray,
        momentum: float = 0.9,
        eps: float = 1e-5,
    ) -> list[Call]:
        """Training-mode batch norm over axis 1 (MindSpore's momentum: see the module docstring).

        x: (N, C, ...) float32 with N * prod(spatial) >= 2; gamma, beta, running_mean, running_var: (C,).
        Returns (y, batch_mean, saved_invstd, new_running_mean, new_running_var); the inputs are untouched.
        """
        x, (n, c, inner) = _view(self, x)
        params = [_vector(self, v, c, what) for v, what in ((gamma, "gamma"), (beta, "beta"))]
        running = [_vector(self, v, c, w) for v, w in ((running_mean, "running_mean"), (running_var, "running_var"))]
        if n * inner < 2:
            raise self.fail(f"x {x.shape} has {n * inner} value per channel: training needs at least 2")
        momentum, eps = float(momentum), _epsilon(self, eps)
        if not 0 <= momentum <= 1:
            raise self.fail(f"momentum must be in [0, 1] (MindSpore's convention), got {momentum}")
        view = x.reshape(n, c, inner)
        return [
            KeepCall("f32_batch_norm_train_stats", [view, *running], (4, c), np.float32, (momentum, eps)),
            Call("f32_batch_norm_train_apply", [view, *params, PREV], (n, c, inner), np.float32, (), x.shape),
        ]

    def results(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        stats, y = outputs
        return (y, *stats)


class BatchNormBackward(Op):
    name = "batch_norm_backward"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_batch_norm_backward_sums", self._build_sums, (TENSOR,) * 5),
            Kernel("f32_batch_norm_backward_dx", self._build_dx, (TENSOR,) * 7),
        ]

    @staticmethod
    def _build_sums():
        import tvm
        from tvm import te

        from .simd_schedules import dims, prim_func

        n, c, i = dims("n", "c", "inner")
        x, dy = (te.placeholder((n, c, i), "float32", name=s) for s in ("x", "dy"))
        mean, inv = te.placeholder((c,), "float32", name="mean"), te.placeholder((c,), "float32", name="invstd")
        sdy = _channel_sum(te, lambda b, ch, k: dy[b, ch, k], n, c, i, "sdy")
        sxdy = _channel_sum(te, lambda b, ch, k: dy[b, ch, k] * (x[b, ch, k] - mean[ch]), n, c, i, "sxdy")
        out = te.compute((2, c), lambda row, ch: tvm.tirx.Select(row == 0, sxdy[ch] * inv[ch], sdy[ch]), name="out")
        sch = tvm.s_tir.Schedule(prim_func([x, dy, mean, inv, out]))
        _schedule_sums(sch, "sdy", "sxdy")
        return sch.mod["main"]

    @staticmethod
    def _build_dx():
        from tvm import te

        from .simd_schedules import dims, prim_func

        n, c, i = dims("n", "c", "inner")
        x, dy = (te.placeholder((n, c, i), "float32", name=s) for s in ("x", "dy"))
        gamma, mean, inv = (te.placeholder((c,), "float32", name=s) for s in ("gamma", "mean", "invstd"))
        sums = te.placeholder((2, c), "float32", name="sums")  # dgamma, dbeta
        count = (n * i).astype("float32")
        # dx = gamma * inv * (dy - dbeta / M - xhat * dgamma / M), xhat = (x - mean) * inv, in this order:
        # folded into a * dy + b * x + d, b * x + d cancelled (b * mean is ~|mean| / |x - mean| times dx,
        # with its rounding) and an infinite sum gave inf - inf = NaN where this gives ±inf
        # gamma * (inv * (...)): gamma * inv underflows to 0 for a subnormal gamma (then 0 * inf = NaN)
        mb = te.compute((c,), lambda ch: sums[1, ch] / count, name="mb")
        mg = te.compute((c,), lambda ch: sums[0, ch] / count, name="mg")

        def grad(b, ch, k):
            return gamma[ch] * (inv[ch] * (dy[b, ch, k] - mb[ch] - (x[b, ch, k] - mean[ch]) * inv[ch] * mg[ch]))

        dx = te.compute((n, c, i), grad, name="dx")
        return prim_func([x, dy, gamma, mean, inv, sums, dx])

    def reference(self, x, dy, gamma, saved_mean, saved_invstd):
        x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        inv = np.asarray(saved_invstd, np.float64).reshape(shape)
        xhat = (x - np.asarray(saved_mean, np.float64).reshape(shape)) * inv
        m = x.size / x.shape[1]
        dbeta, dgamma = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
        g = np.asarray(gamma, np.float64).reshape(shape)
        dx = g * inv * (dy - dbeta.reshape(shape) / m - xhat * dgamma.reshape(shape) / m)
        return tuple(a.astype(np.float32) for a in (dx, dgamma, dbeta))

    def plan(
        self, x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, saved_mean: np.ndarray, saved_invstd: np.ndarray
    ) -> list[Call]:
        """Gradients of training-mode batch norm (the batch statistics depend on x too).

        x, dy: (N, C, ...) float32; gamma, saved_mean, saved_invstd: (C,) (batch_norm_train's saved
        statistics). Returns (dx, dgamma, dbeta)."""
        x, (n, c, inner) = _view(self, x)
        dy, _ = _view(self, dy, "dy")
        if dy.shape != x.shape:
            raise self.fail(f"dy has shape {dy.shape} but x has {x.shape}; they must match")
        gamma, mean, inv = (
            _vector(self, v, c, w)
            for v, w in ((gamma, "gamma"), (saved_mean, "saved_mean"), (saved_invstd, "saved_invstd"))
        )
        view = (n, c, inner)
        xv, dyv = x.reshape(view), dy.reshape(view)
        return [
            KeepCall("f32_batch_norm_backward_sums", [xv, dyv, mean, inv], (2, c), np.float32),
            Call("f32_batch_norm_backward_dx", [xv, dyv, gamma, mean, inv, PREV], view, np.float32, (), x.shape),
        ]

    def results(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        sums, dx = outputs
        return dx, sums[0], sums[1]


OPS = [BatchNormTrain(), BatchNormBackward()]

"""Optimiser update kernels: sgd_update (plain, momentum, Nesterov, weight decay) and adam_update.

Each returns the new tensors (weights, then the optimiser state) and leaves its inputs alone, as a
functional training step needs. The kernels read flat (n,) views and write all new tensors in one pass as
one (k, n) output (k = 2 or 3), which the host splits: one kernel per step instead of one per tensor.
Hyper-parameters are float scalars, so one kernel serves every shape and schedule of learning rates.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import FLOAT, TENSOR, Call, Kernel, Op


def _schedule(func):
    """Vectorise the contiguous element loop (tail peeled); the k loop is the outer one."""
    import tvm

    from ._simd import vector_loop

    sch = tvm.s_tir.Schedule(func)
    blk = sch.get_sblock("out")
    vector_loop(sch, sch.get_loops(blk)[-1])
    return sch.mod["main"]


def _finite(op: Op, **values: float) -> tuple[float, ...]:
    out = []
    for name, v in values.items():
        f = float(v)
        if not math.isfinite(f):
            raise op.fail(f"{name} must be finite, got {v!r}")
        out.append(f)
    return tuple(out)


def _flat(op: Op, w, others: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    w = op.tensor(w, "w")
    flat = []
    for what, t in others.items():
        t = op.tensor(t, what)
        if t.shape != w.shape:
            raise op.fail(f"{what} has shape {t.shape} but w has {w.shape}; they must match")
        flat.append(t.reshape(-1))
    return w, flat


class SgdUpdate(Op):
    """Stochastic gradient descent, PyTorch / MindSpore semantics (dampening 0)."""

    name = "sgd_update"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_sgd_update", lambda: self._build(False), (TENSOR,) * 3 + (FLOAT,) * 2),
            Kernel("f32_sgd_update_momentum", lambda: self._build(True), (TENSOR,) * 4 + (FLOAT,) * 4),
        ]

    @staticmethod
    def _build(momentum: bool):
        import tvm
        from tvm import te

        from .simd_schedules import dims, prim_func

        (n,) = dims("n")
        w = te.placeholder((n,), "float32", name="w")
        g = te.placeholder((n,), "float32", name="g")
        lr, wd = te.var("lr", "float32"), te.var("weight_decay", "float32")
        if not momentum:
            out = te.compute((n,), lambda i: w[i] - lr * (g[i] + wd * w[i]), name="out")
            return _schedule(prim_func([w, g, out, lr, wd]))
        v = te.placeholder((n,), "float32", name="velocity")
        mu, nesterov = te.var("momentum", "float32"), te.var("nesterov", "float32")

        def new(k, i):
            grad = g[i] + wd * w[i]
            vel = mu * v[i] + grad
            # nesterov is 0 or 1: a select, as 0 * (grad + mu * vel - vel) is NaN when a gradient is inf
            step = tvm.tirx.Select(nesterov != tvm.tirx.const(0.0, "float32"), grad + mu * vel, vel)
            return tvm.tirx.Select(k == 0, w[i] - lr * step, vel)

        out = te.compute((2, n), new, name="out")
        return _schedule(prim_func([w, g, v, out, lr, wd, mu, nesterov]))

    def reference(self, w, g, lr, momentum=0.0, velocity=None, weight_decay=0.0, nesterov=False):
        w, g = np.asarray(w, np.float64), np.asarray(g, np.float64) + weight_decay * np.asarray(w, np.float64)
        if momentum == 0:
            return (w - lr * g).astype(np.float32)
        v = momentum * (np.zeros_like(w) if velocity is None else np.asarray(velocity, np.float64)) + g
        step = g + momentum * v if nesterov else v
        return (w - lr * step).astype(np.float32), v.astype(np.float32)

    def plan(
        self,
        w: np.ndarray,
        g: np.ndarray,
        lr: float,
        momentum: float = 0.0,
        velocity: np.ndarray | None = None,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> Call | list[Call]:
        """One SGD step: g' = g + weight_decay * w; with momentum v' = momentum * v + g' and
        w' = w - lr * (g' + momentum * v' if nesterov else v'), else w' = w - lr * g'.

        w, g, velocity: float32, one shape (velocity None = zeros, the first step). Returns w' (momentum 0)
        or (w', v'), new arrays.
        """
        lr, momentum, weight_decay = _finite(self, lr=lr, momentum=momentum, weight_decay=weight_decay)
        if momentum == 0:
            if nesterov:
                raise self.fail("nesterov needs momentum > 0")
            if velocity is not None:
                raise self.fail("velocity given but momentum is 0")
            w, (g,) = _flat(self, w, {"g": g})
            return Call("f32_sgd_update", [w.reshape(-1), g], (w.size,), np.float32, (lr, weight_decay), (1, *w.shape))
        if velocity is None:
            velocity = np.zeros(np.shape(w), np.float32)
        w, (g, v) = _flat(self, w, {"g": g, "velocity": velocity})
        scalars = (lr, weight_decay, momentum, float(bool(nesterov)))
        return Call("f32_sgd_update_momentum", [w.reshape(-1), g, v], (2, w.size), np.float32, scalars, (2, *w.shape))

    def results(self, outputs: list[np.ndarray]) -> np.ndarray | tuple[np.ndarray, ...]:
        (out,) = outputs  # (1, *w.shape) without momentum, (2, *w.shape) with
        return out[0] if len(out) == 1 else tuple(out)


class AdamUpdate(Op):
    """Adam, MindSpore's nn.Adam formula (eps added to sqrt(v), bias corrections folded into the rate)."""

    name = "adam_update"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_adam_update", self._build, (TENSOR,) * 5 + (FLOAT,) * 6)]

    @staticmethod
    def _build():
        import tvm
        from tvm import te

        from .simd_schedules import dims, prim_func

        (n,) = dims("n")
        w, g, m, v = (te.placeholder((n,), "float32", name=s) for s in ("w", "g", "m", "v"))
        # 1 - beta comes from the host (float64, then rounded): 1 - float32(0.999) is off by 4.7e-5 relative
        lr_t, b1, b2, c1, c2, eps = (te.var(s, "float32") for s in ("lr_t", "beta1", "beta2", "c1", "c2", "eps"))

        def new(k, i):
            m2 = b1 * m[i] + c1 * g[i]
            v2 = b2 * v[i] + c2 * g[i] * g[i]
            w2 = w[i] - lr_t * m2 / (tvm.tirx.sqrt(v2) + eps)
            return tvm.tirx.Select(k == 0, w2, tvm.tirx.Select(k == 1, m2, v2))

        out = te.compute((3, n), new, name="out")
        return _schedule(prim_func([w, g, m, v, out, lr_t, b1, b2, c1, c2, eps]))

    @staticmethod
    def _rate(lr: float, beta1: float, beta2: float, step: int) -> float:
        return lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)

    def reference(self, w, g, m, v, lr, beta1=0.9, beta2=0.999, eps=1e-8, step=1):
        w, g, m, v = (np.asarray(a, np.float64) for a in (w, g, m, v))
        m2 = beta1 * m + (1 - beta1) * g
        v2 = beta2 * v + (1 - beta2) * g * g
        w2 = w - self._rate(lr, beta1, beta2, step) * m2 / (np.sqrt(v2) + eps)
        return tuple(a.astype(np.float32) for a in (w2, m2, v2))

    def plan(
        self,
        w: np.ndarray,
        g: np.ndarray,
        m: np.ndarray,
        v: np.ndarray,
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        step: int = 1,
    ) -> Call:
        """One Adam step (MindSpore nn.Adam): m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g²,
        w' = w - lr * sqrt(1 - b2^step) / (1 - b1^step) * m' / (sqrt(v') + eps).

        w, g, m, v: float32, one shape; step >= 1 counts this update (1 for the first). Returns (w', m', v').
        """
        lr, beta1, beta2, eps = _finite(self, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise self.fail(f"beta1 and beta2 must be in [0, 1), got {beta1}, {beta2}")
        if not isinstance(step, int | np.integer) or step < 1:
            raise self.fail(f"step must be an int >= 1 (the update's number), got {step!r}")
        w, (g, m, v) = _flat(self, w, {"g": g, "m": m, "v": v})
        scalars = (self._rate(lr, beta1, beta2, int(step)), beta1, beta2, 1 - beta1, 1 - beta2, eps)
        return Call("f32_adam_update", [w.reshape(-1), g, m, v], (3, w.size), np.float32, scalars, (3, *w.shape))

    def results(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        (out,) = outputs  # (3, *w.shape): w', m', v'
        return tuple(out)


OPS = [SgdUpdate(), AdamUpdate()]

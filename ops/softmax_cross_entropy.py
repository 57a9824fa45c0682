"""softmax_cross_entropy: per-sample loss and its gradient w.r.t. the logits, in one call.

loss[i] = -sum_j labels[i, j] * log_softmax(logits)[i, j]
        = sum_j labels[i, j] * (max_i - logits[i, j]) + log(se_i) * sum_j labels[i, j],  se_i = sum exp(logits - max_i)
dlogits[i, j] = softmax(logits)[i, j] * sum_k labels[i, k] - labels[i, j]  (softmax - labels for
distributions), as MindSpore's SoftmaxCrossEntropyWithLogits primitive returns them: per sample, not
averaged (a mean loss's gradient is dlogits / N). Labels are dense (N, C) float32 distributions or sparse
(N,) int32 class indices (SparseSoftmaxCrossEntropyWithLogits). Two row kernels, a chain: the loss (kept)
and the gradient; each computes the row's max and sum of exponentials (16-lane row reductions).
"""

from __future__ import annotations

import numpy as np

from ._multi import KeepCall
from .spec import TENSOR, Call, Kernel, Op


class SoftmaxCrossEntropy(Op):
    name = "softmax_cross_entropy"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel(f"f32_{self.name}_{what}_{labels}", lambda w=what, lab=labels: self._build(w, lab), (TENSOR,) * 3)
            for what in ("loss", "grad")
            for labels in ("dense", "sparse")
        ]

    @staticmethod
    def _build(what: str, labels: str):
        import tvm
        from tvm import s_tir, te

        from . import _fastmath
        from ._simd import Reducer, row_reduce, row_stages, schedule_row_reduce, vector_loop
        from .simd_schedules import dims, prim_func

        n, c = dims("n", "c")
        x = te.placeholder((n, c), "float32", name="logits")
        one, zero = tvm.tirx.const(1.0, "float32"), tvm.tirx.const(0.0, "float32")
        if labels == "dense":
            lab = te.placeholder((n, c), "float32", name="labels")

            def label(o, j):
                return lab[o, j]
        else:
            lab = te.placeholder((n,), "int32", name="labels")

            def label(o, j):
                return tvm.tirx.Select(lab[o] == j, one, zero)

        total = Reducer.sum("float32")
        mx, _ = row_reduce([n], c, lambda i, _, k: x[i[0], k], Reducer.max("float32"), "mx")
        se, _ = row_reduce([n], c, lambda i, _, k: _fastmath.exp(x[i[0], k] - mx[i[0]]), total, "se")
        if labels == "dense":
            sl, _ = row_reduce([n], c, lambda i, _, k: lab[i[0], k], total, "sl")
            lsum, sums = (lambda o: sl[o]), ["sl"]
        else:  # one-hot: a label out of range gives nan, never a silent zero row
            nan = tvm.tirx.const(float("nan"), "float32")

            def lsum(o):
                return tvm.tirx.Select(tvm.tirx.all(lab[o] >= 0, lab[o] < c), one, nan)

            sums = []
        if what == "loss":
            # sum_j labels * (max - logits) + log(se) * sum(labels): the logits enter only through their
            # distance to the max (lse - logit would round lse's log(se) away when the logits are large)
            if labels == "dense":
                slx, _ = row_reduce([n], c, lambda i, _, k: lab[i[0], k] * (mx[i[0]] - x[i[0], k]), total, "slx")
                sums.append("slx")

                def gap(o):
                    return slx[o]
            else:

                def gap(o):
                    return mx[o] - x[o, te.max(te.min(lab[o], c - 1), 0)]

            out = te.compute((n,), lambda o: gap(o) + _fastmath.log(se[o]) * lsum(o), name="out")
        else:
            out = te.compute(
                (n, c),
                lambda o, j: _fastmath.exp(x[o, j] - mx[o]) / se[o] * lsum(o) - label(o, j),
                name="out",
            )
        sch = s_tir.Schedule(prim_func([x, lab, out]))
        loops = sch.get_loops(sch.get_sblock("out"))
        if what == "grad":
            vector_loop(sch, loops[-1])
        for name in (*sums, "se", "mx"):  # consumers before producers
            schedule_row_reduce(sch, row_stages(name), loops[0])
        return sch.mod["main"]

    def reference(self, logits, labels) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(logits, np.float64)
        lab = np.asarray(labels)
        shifted = x - x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        if lab.dtype.kind in "iu":  # the label's log-probability: a -inf logit of another class is no NaN
            loss = (lse - np.take_along_axis(shifted, lab.reshape(-1, 1), axis=1))[:, 0]
            lab = np.eye(x.shape[1])[lab]
        else:
            lab = lab.astype(np.float64)
            loss = -(lab * (shifted - lse)).sum(axis=1)
        grad = np.exp(shifted - lse) * lab.sum(axis=1, keepdims=True) - lab
        return loss.astype(np.float32), grad.astype(np.float32)

    def plan(self, logits: np.ndarray, labels: np.ndarray) -> list[Call]:
        """logits: (N, C) float32; labels: (N, C) float32 (each row a distribution, usually one-hot) or
        (N,) int32 class indices in [0, C). Returns (loss (N,), dlogits (N, C)), per sample."""
        x = self.tensor(logits, "logits", ndim=2)
        lab = self.tensor(labels, "labels", ("float32", "int32"), ndim=(1, 2))
        n, c = x.shape
        if lab.dtype == np.int32:
            if lab.shape != (n,):
                raise self.fail(f"int32 labels must be class indices of shape ({n},), got {lab.shape}")
            if isinstance(lab, np.ndarray) and lab.size and (lab.min() < 0 or lab.max() >= c):
                bad = lab[(lab < 0) | (lab >= c)][0]
                raise IndexError(f"{self.name}: label {bad} is out of range for {c} classes")
            kind = "sparse"
        else:
            if lab.shape != (n, c):
                raise self.fail(f"float32 labels must have the logits' shape {(n, c)}, got {lab.shape}")
            kind = "dense"
        return [
            KeepCall(f"f32_{self.name}_loss_{kind}", [x, lab], (n,), np.float32),
            Call(f"f32_{self.name}_grad_{kind}", [x, lab], (n, c), np.float32),
        ]

    def results(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        loss, grad = outputs
        return loss, grad


OPS = [SoftmaxCrossEntropy()]

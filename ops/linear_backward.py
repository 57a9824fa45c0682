"""Gradients of dense (y = x @ w.T + b): dense_backward_data, dense_backward_weight, bias_grad.

They are the same computations as existing kernels, so they add none: dx = dy @ w is a matmul;
dw = dy2.T @ x2 (a reduction over the rows of both) is a matmul of dy2 transposed on the host, or, when dy lives
in wasm memory (graphs), the weight gradient of a 1x1 convolution over (rows, features, 1, 1) views
(conv2d_backward_weight's GEMM, no transpose; about half the matmul's speed at 512^3); db is a sum over
every axis but one.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import Call, Kernel, Op


def _op(name: str) -> Op:
    from . import all_ops

    return all_ops()[name]


class DenseBackwardData(Op):
    name = "dense_backward_data"
    uses = ("matmul",)

    def kernels(self) -> list[Kernel]:
        return []

    def reference(self, dy, w) -> np.ndarray:
        return (np.asarray(dy, np.float64) @ np.asarray(w, np.float64)).astype(np.float32)

    def plan(self, dy: np.ndarray, w: np.ndarray) -> Call:
        """dx of dense: dy (..., out_features) @ w (out_features, in_features) -> (..., in_features)."""
        dy = self.tensor(dy, "dy", ndim=range(1, 9))
        w = self.tensor(w, "w", ndim=2)
        if dy.shape[-1] != w.shape[0]:
            raise self.fail(f"dy has {dy.shape[-1]} features (shape {dy.shape}), w has {w.shape[0]} rows {w.shape}")
        return _op("matmul").plan(dy, w)


class DenseBackwardWeight(Op):
    name = "dense_backward_weight"
    uses = ("matmul", "conv2d_backward_weight")

    def kernels(self) -> list[Kernel]:
        return []

    def reference(self, dy, x) -> np.ndarray:
        dy, x = np.asarray(dy, np.float64), np.asarray(x, np.float64)
        return (dy.reshape(-1, dy.shape[-1]).T @ x.reshape(-1, x.shape[-1])).astype(np.float32)

    def plan(self, dy: np.ndarray, x: np.ndarray) -> Call:
        """dw of dense: the sum over every leading (batch) position of dy ⊗ x, i.e. dy2.T @ x2 with
        dy2 = dy.reshape(-1, out_features), x2 = x.reshape(-1, in_features). dy (..., out), x (..., in)
        with the same leading dims; returns (out_features, in_features)."""
        dy = self.tensor(dy, "dy", ndim=range(1, 9))
        x = self.tensor(x, "x", ndim=range(1, 9))
        if dy.shape[:-1] != x.shape[:-1]:
            raise self.fail(f"dy {dy.shape} and x {x.shape} must have the same leading (batch) dims")
        rows, fout, fin = math.prod(dy.shape[:-1]), dy.shape[-1], x.shape[-1]
        if isinstance(dy, np.ndarray):
            return _op("matmul").plan(np.ascontiguousarray(dy.reshape(rows, fout).T), x.reshape(rows, fin))
        call = _op("conv2d_backward_weight").plan(
            x.reshape(rows, fin, 1, 1), dy.reshape(rows, fout, 1, 1), (fout, fin, 1, 1)
        )
        call.result_shape = (fout, fin)
        return call


class BiasGrad(Op):
    name = "bias_grad"
    uses = ("sum",)

    def kernels(self) -> list[Kernel]:
        return []

    def reference(self, dy, axis: int = 1) -> np.ndarray:
        dy = np.asarray(dy, np.float64)
        ax = self.axis(axis, dy.ndim)
        return dy.sum(axis=tuple(i for i in range(dy.ndim) if i != ax)).astype(np.float32)

    def plan(self, dy: np.ndarray, axis: int = 1) -> Call:
        """db of a per-channel bias: dy summed over every axis but `axis` (1 for NCHW convs, -1 for dense).
        Returns (dy.shape[axis],)."""
        dy = self.tensor(dy, "dy", ndim=range(1, 9))
        if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
            raise TypeError(f"{self.name}: axis must be an int, got {axis!r}")
        ax = self.axis(int(axis), dy.ndim)
        return _op("sum").plan(dy, axis=tuple(i for i in range(dy.ndim) if i != ax))


OPS = [DenseBackwardData(), DenseBackwardWeight(), BiasGrad()]

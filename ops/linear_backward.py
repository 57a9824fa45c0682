"""Gradients of dense (y = x @ w.T + b): dense_backward_data, dense_backward_weight, bias_grad.

They are the same computations as existing ops, so they run those ops' kernels and add none:
dx = dy @ w is a matmul, dw = dy.T @ x a matmul of the transposed rows (transposed on the host, as
conv_transpose2d rearranges its weight: the operand must be a host array), db a sum over every axis but one.
"""

from __future__ import annotations

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
    uses = ("matmul",)

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
        if not isinstance(dy, np.ndarray):
            raise self.fail("dy must be a host array: it is transposed on the host")
        dy_t = np.ascontiguousarray(dy.reshape(-1, dy.shape[-1]).T)
        return _op("matmul").plan(dy_t, x.reshape(-1, x.shape[-1]))


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

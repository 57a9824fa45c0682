"""Inputs the fuzz computes from other inputs instead of drawing them: the saved statistics of the norm
backward ops are the forward's statistics of x.

Drawn independently, a mean and an invstd that do not belong to x make xhat = (x - mean) * invstd as large
as 2**100, which no forward produces, and dx (a product of seven such factors) overflows float32 where the
float64 reference does not. From x they are what training passes: |xhat| <= sqrt(count), invstd <=
1 / sqrt(eps). NaN and +-inf in x still reach the kernels (as NaN statistics).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

EPS = 1e-5  # the forwards' default


def _stats(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=axes, keepdims=True)
        inv = 1 / np.sqrt(x64.var(axis=axes, keepdims=True) + EPS)
    return mean.astype(np.float32), inv.astype(np.float32)


def _batch_norm_backward(inputs: tuple[Any, ...], attrs: dict[str, Any]) -> tuple[Any, ...]:
    x, dy, gamma, *_ = inputs
    mean, inv = _stats(x, (0, *range(2, x.ndim)))
    return x, dy, gamma, mean.reshape(-1), inv.reshape(-1)


def _layer_norm_backward(inputs: tuple[Any, ...], attrs: dict[str, Any]) -> tuple[Any, ...]:
    x, dy, gamma, mean0, inv0 = inputs
    ax = attrs.get("axis", -1) % x.ndim
    mean, inv = _stats(x, tuple(range(ax, x.ndim)))
    return x, dy, gamma, mean.reshape(np.shape(mean0)), inv.reshape(np.shape(inv0))


#: op name -> (drawn inputs, attributes) -> the inputs to check
DERIVED: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]] = {
    "batch_norm_backward": _batch_norm_backward,
    "layer_norm_backward": _layer_norm_backward,
}

"""The ONNX frontend: Det as a cofactor (Laplace) expansion of sliced matrix entries, for small matrices.

Each entry x[..., i, j] is a slice; the expansion multiplies and adds them, batched over the leading dims.
Its cost grows as n!, so it is limited to n <= MAX_ORDER (enough for the 2x2 / 3x3 / 4x4 transforms ONNX
models take determinants of); larger matrices are refused.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, onnx_op

MAX_ORDER = 4


@onnx_op(F, "Det", 11)
def det(g: GraphBuilder, a: dict, x):
    """det of x (..., n, n) -> (...)."""
    if len(x.shape) < 2 or x.shape[-1] != x.shape[-2]:
        raise AttributeError_(f"{g.label}: Det needs square matrices (..., n, n), got {x.shape}")
    n = x.shape[-1]
    if is_const(x):
        return np.linalg.det(np.asarray(x, np.float64)).astype(np.asarray(x).dtype)
    if not 1 <= n <= MAX_ORDER:
        raise AttributeError_(f"{g.label}: Det of {n} x {n} matrices is not supported (at most {MAX_ORDER})")
    entries = {(i, j): g.op("slice", x, [i, j], [i + 1, j + 1], axes=[-2, -1]) for i in range(n) for j in range(n)}

    def expand(row: int, cols: tuple[int, ...]):
        if len(cols) == 1:
            return entries[(row, cols[0])]
        total = None
        for k, col in enumerate(cols):
            term = g.op("multiply", entries[(row, col)], expand(row + 1, cols[:k] + cols[k + 1 :]))
            if total is None:
                total = term
            else:
                total = g.op("subtract" if k % 2 else "add", total, term)
        return total

    return expand(0, tuple(range(n))).reshape(tuple(x.shape[:-2]))

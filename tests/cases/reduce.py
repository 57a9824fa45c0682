"""sum / mean / max: both kernel views (last axis reduced = rows, kept = cols), non-adjacent reduced axes,
negative axes, keepdims, size-1 and empty dims, model shapes (BERT LayerNorm rows, ResNet global pool and
BatchNorm statistics).

Float references are computed in float64: the kernels sum in float32 (16 partial sums per row), so the
tolerance grows with the number of terms; the atol covers sums that cancel to near zero.
"""

import numpy as np

from . import Case, rand

# (shape, axis): every axis form and both views, odd sizes around the 16-lane vector width
LAYOUTS = [
    ((7,), None),
    ((1003,), 0),
    ((5, 33), 1),
    ((5, 33), 0),
    ((5, 33), -1),
    ((4, 17, 9), 1),
    ((4, 17, 9), (0, 2)),
    ((4, 17, 9), (2, 0)),
    ((4, 17, 9), (-1, -2)),
    ((2, 3, 4, 5), (0, 2)),
    ((2, 3, 4, 5), (1, 3)),
    ((2, 3, 4, 5, 6, 7), (0, 2, 4)),
    ((2, 3, 4, 5, 6, 7), (1, 3, 5)),
    ((3, 1, 20), 1),
    ((1, 1, 40), (0, 1)),
    ((6, 8), ()),
    ((), None),
    ((3, 16), None),
]


def _tol(shape, axis):
    terms = int(np.prod(shape)) if axis is None else int(np.prod([shape[a] for a in np.atleast_1d(axis)] or [1]))
    return {"rtol": 2e-6 * max(1.0, np.sqrt(terms)), "atol": 2e-6 * max(1.0, np.sqrt(terms))}


CASES = []
for i, (shape, axis) in enumerate(LAYOUTS):
    x = rand(*shape, seed=i)
    xi = rand(*shape, dtype="int32", seed=i, low=-1000, high=1000)
    attrs = {"axis": axis}
    for keepdims in (False, True):
        kd = {"keepdims": True} if keepdims else {}
        tag = f"{shape}-axis{axis}" + ("-keepdims" if keepdims else "")
        CASES += [
            Case("sum", (x,), {**attrs, **kd}, id=tag, **_tol(shape, axis)),
            Case("mean", (x,), {**attrs, **kd}, id=tag, **_tol(shape, axis)),
            Case("max", (x,), {**attrs, **kd}, id=tag),
            Case("sum", (xi,), {**attrs, **kd}, id=f"i32-{tag}"),
            Case("max", (xi,), {**attrs, **kd}, id=f"i32-{tag}"),
        ]

# empty: sum of nothing is 0, mean nan; an empty kept dim gives an empty result (max too)
CASES += [
    Case("sum", (np.zeros((3, 0), np.float32),), {"axis": 1}, id="empty-reduced"),
    Case("mean", (np.zeros((3, 0), np.float32),), {"axis": 1}, id="empty-reduced"),
    Case("sum", (np.zeros((0, 5), np.int32),), {"axis": None}, id="i32-empty-all"),
    Case("sum", (np.zeros((0, 5), np.float32),), {"axis": 1}, id="empty-kept"),
    Case("max", (np.zeros((0, 5), np.float32),), {"axis": 1}, id="empty-kept"),
    Case("max", (np.zeros((0, 5), np.float32),), {"axis": ()}, id="empty-no-axes"),
]

# NaN propagates through max (both views) and sum; -inf / inf are ordinary values
_nan = rand(4, 37, seed=3)
_nan[1, 5] = np.nan
_nan[2, 36] = np.inf
_nan[3, 0] = -np.inf
CASES += [
    Case("max", (_nan,), {"axis": 1}, id="nan-rows"),
    Case("max", (_nan,), {"axis": 0}, id="nan-cols"),
    Case("sum", (_nan,), {"axis": 1}, id="nan-rows"),
    Case("max", (np.full((3, 20), -np.inf, np.float32),), {"axis": 1}, id="all-neg-inf"),
]

# models: BERT-base LayerNorm statistics (rows of 768), ResNet-50 global average pool (rows of 7x7),
# BatchNorm statistics over (N, H, W) of NCHW (two reduced groups), a big full sum
CASES += [
    Case("mean", (rand(8, 128, 768),), {"axis": -1, "keepdims": True}, id="bert-layernorm", **_tol((768,), 0)),
    Case("mean", (rand(8, 2048, 7, 7),), {"axis": (2, 3)}, id="resnet-avgpool", **_tol((49,), 0)),
    Case("sum", (rand(8, 64, 56, 56),), {"axis": (0, 2, 3)}, id="batchnorm-stats", **_tol((8 * 56 * 56,), 0)),
    Case("max", (rand(8, 12, 128, 128),), {"axis": -1}, id="bert-attention-rows"),
    Case("max", (rand(64, 1000),), {"axis": 0}, id="cols-1000"),
    Case("sum", (rand(1 << 20),), {}, id="1M", **_tol((1 << 20,), 0)),
    # found by the fuzz (tests/fuzz): an empty reduction is the identity (the row kernel gave 0 for a product)
    *[
        Case(op, (np.zeros(shape, dt),), {"axis": axis, "keepdims": kd}, id=f"empty{shape}{axis}{kd}-{dt}")
        for op in ("prod", "sum")
        for dt in ("float32", "int32")
        for shape, axis, kd in [((0,), 0, False), ((3, 0), 1, True), ((2, 0, 4), (1,), False), ((0,), None, False)]
    ],
    Case("mean", (np.zeros((3, 0), np.float32),), {"axis": -1}, id="empty-rows-nan"),
]

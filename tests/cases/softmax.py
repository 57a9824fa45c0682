"""softmax / log_softmax: last axis (rows kernel) and inner axes (cols kernel), odd lengths around the 16-lane
width, size-1 and empty dims, large logits (stability), -inf masks, BERT attention and classifier shapes.

References are computed in float64; exp and log are ~1 ulp polynomials, so 1e-5 relative holds.
"""

import numpy as np

from . import Case, rand

LAYOUTS = [
    ((7,), -1),
    ((1,), 0),
    ((3, 16), -1),
    ((5, 33), 1),
    ((5, 33), 0),
    ((4, 17, 9), 1),
    ((4, 17, 9), -3),
    ((2, 3, 1, 5), 2),
    ((2, 3, 4, 5), 1),
    ((0, 10), -1),
    ((4, 0), -1),
    ((4, 0, 3), 1),
]

CASES = []
for i, (shape, axis) in enumerate(LAYOUTS):
    for op in ("softmax", "log_softmax"):
        CASES.append(Case(op, (rand(*shape, seed=i),), {"axis": axis}, id=f"{shape}-axis{axis}"))

_big = rand(6, 50, low=-1e4, high=1e4)  # exp would overflow without the max subtraction
_masked = rand(4, 40, seed=1)
_masked[:, 20:] = -np.inf  # attention padding mask
_masked[3, :] = -np.inf  # a fully masked row: nan, as numpy's formula gives
_masked_cols = np.ascontiguousarray(_masked.T)
for op in ("softmax", "log_softmax"):
    CASES += [
        Case(op, (rand(8, 12, 128, 128),), id="bert-attention"),
        Case(op, (rand(32, 1000, low=-10, high=10),), id="imagenet-logits"),
        Case(op, (rand(2, 64, 14, 14),), {"axis": 1}, id="nchw-channels"),
        Case(op, (_big,), id="large-logits"),
        Case(op, (_big.T.copy(),), {"axis": 0}, id="large-logits-cols"),
        Case(op, (_masked,), id="masked-rows"),
        Case(op, (_masked_cols,), {"axis": 0}, id="masked-cols"),
        Case(op, (rand(3, 4),), {"axis": np.int64(-1)}, id="numpy-int-axis"),
    ]

# the fuzz's find (2026-12-03): tied maxima of magnitude ~1e13 gave log_softmax 0 instead of -log(3) while the
# kernel formed x - (max + log(sum)), in which the log vanishes; (x - max) - log(sum) keeps it
_tied = np.full((5, 7), -1.3965678e13, np.float32)
_tied[:, 3:] = rand(5, 4, low=-5e14, high=-1e14, seed=3)
for op in ("softmax", "log_softmax"):
    CASES += [
        Case(op, (_tied,), id="tied-huge-rows"),
        Case(op, (np.ascontiguousarray(_tied.T),), {"axis": 0}, id="tied-huge-cols"),
    ]

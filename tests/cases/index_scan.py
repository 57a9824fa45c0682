"""Reductions min / prod, the axis scans (cumsum, cumprod, argmax, argmin, topk_indices) and the index ops
(take_along_axis, gather_nd, scatter_elements, scatter_nd): odd sizes around the vector width, negative
axes and indices, every scatter reduction. Index inputs are int32 with distinct scatter targets where the
result would otherwise depend on write order."""

import numpy as np

from . import Case, rand

_x = rand(5, 33, seed=1)
_xi = rand(5, 33, dtype="int32", seed=2, low=-50, high=50)
_small = rand(4, 7, seed=3, low=0.5, high=1.5)  # products stay in range

CASES = []
for axis in (0, 1, -1, None):
    for keepdims in (False, True):
        tag = f"axis{axis}" + ("-keepdims" if keepdims else "")
        CASES += [
            Case("min", (_x,), {"axis": axis, "keepdims": keepdims}, id=tag),
            Case("min", (_xi,), {"axis": axis, "keepdims": keepdims}, id=f"i32-{tag}"),
            Case("prod", (_small,), {"axis": axis, "keepdims": keepdims}, id=tag, rtol=1e-5),
        ]
for axis in (0, 1, -1):
    for last in (False, True):
        CASES += [
            Case("argmax", (_xi,), {"axis": axis, "select_last_index": last}, id=f"axis{axis}-last{last}"),
            Case("argmin", (_xi,), {"axis": axis, "keepdims": True, "select_last_index": last}, id=f"axis{axis}"),
        ]
    for exclusive in (False, True):
        for reverse in (False, True):
            tag = f"axis{axis}-excl{exclusive}-rev{reverse}"
            CASES += [
                Case("cumsum", (_x,), {"axis": axis, "exclusive": exclusive, "reverse": reverse}, id=tag, rtol=1e-5),
                Case("cumsum", (_xi,), {"axis": axis, "exclusive": exclusive, "reverse": reverse}, id=f"i32-{tag}"),
                Case("cumprod", (_small,), {"axis": axis, "exclusive": exclusive, "reverse": reverse}, id=tag),
            ]
CASES += [
    Case("topk_indices", (_x, 5), {"axis": -1}, id="largest"),
    Case("topk_indices", (_x, 3), {"axis": 0, "largest": False}, id="smallest-axis0"),
]

_rng = np.random.default_rng(5)
_data = rand(6, 9, seed=6)
_idx = _rng.integers(-6, 6, size=(4, 9)).astype(np.int32)
CASES += [
    Case("take_along_axis", (_data, _idx), {"axis": 0}, id="axis0-negative"),
    Case("take_along_axis", (_data, _rng.integers(0, 9, size=(6, 20)).astype(np.int32)), {"axis": 1}, id="axis1"),
]
# scatter targets: a permutation per column, so every reduction has one update per element
_perm = np.stack([_rng.permutation(6)[:4] for _ in range(9)], axis=1).astype(np.int32)
_upd = rand(4, 9, seed=7)
for red in ("none", "add", "mul", "max", "min"):
    CASES.append(Case("scatter_elements", (_data, _perm, _upd), {"axis": 0, "reduction": red}, id=red))
_nd_idx = np.array([[0, 1], [5, 8], [-1, 2]], np.int32)
CASES += [
    Case("gather_nd", (_data, _nd_idx), {}, id="pairs"),
    Case("gather_nd", (rand(3, 4, 5, seed=8), np.array([[1], [0], [2]], np.int32)), {"batch_dims": 1}, id="batch1"),
]
for red in ("none", "add", "mul", "max", "min"):
    CASES.append(Case("scatter_nd", (_data, _nd_idx, rand(3, seed=9)), {"reduction": red}, id=red))
# found by the fuzz: an exclusive scan of an empty array is empty (the reference raised IndexError)
_EMPTY = {"exclusive": True, "reverse": True}
CASES += [Case(op, (np.zeros((0,), np.float32),), _EMPTY, id="empty") for op in ("cumsum", "cumprod")]
# regression (issue 14): NaN and signed zeros as onnxruntime orders them. TopK ranks NaN above +inf (first
# when largest, last otherwise), NaNs and -0 / 0 tie by index; scatter max / min keep `old > new ? old : new`
# (a NaN update wins, a NaN already there loses, -0 / 0 ties take the update)
_SPECIALS = np.float32([[3, np.nan, -0.0, 0.0, np.inf, np.nan, -np.inf, 1, -0.0]] * 2)
CASES += [
    Case("topk_indices", (_SPECIALS, 9), {"axis": -1, "largest": largest}, id=f"nan-largest{largest}")
    for largest in (True, False)
]
_OLD = np.float32([[1, np.nan, 3, -np.inf, np.nan, 0.0]])
_NEW = np.float32([[np.nan, 2, np.nan, 5, -0.0, 7]])
_AT = np.int32([[0, 1, 2, 3, 5, 4]])
for red in ("max", "min"):
    CASES.append(Case("scatter_elements", (_OLD, _AT, _NEW), {"axis": 1, "reduction": red}, id=f"nan-{red}"))
    CASES.append(Case("scatter_nd", (_OLD[0], _AT[0][:, None], _NEW[0]), {"reduction": red}, id=f"nan-{red}"))

"""Tensor ops: erf, slice, broadcast_to, take, cast, where, logical_not.

Everything but erf moves or selects values without arithmetic (cast converts exactly), so those cases
demand bit-exact equality (rtol = atol = 0). Shapes cover size-1 and empty dims, sizes that are not a
multiple of 16, every attribute variant and BERT-base / ResNet-50 layer shapes.
"""

import numpy as np

from . import Case, rand


def _exact(op: str, inputs: tuple, attrs: dict | None = None, id: str = "") -> Case:
    return Case(op, inputs, attrs or {}, rtol=0, atol=0, id=id)


def _ints(*shape: int, seed: int = 0, low: int = -1000, high: int = 1000) -> np.ndarray:
    return rand(*shape, dtype="int32", seed=seed, low=low, high=high)


def _bools(*shape: int, seed: int = 0) -> np.ndarray:
    return _ints(*shape, seed=seed, low=0, high=2).astype(bool)


# ---- erf: fast_erf is a rational approximation; its error is ~1e-6 absolute, so atol 2e-6 -----------------
CASES = [
    Case("erf", (rand(*s, seed=i),), atol=2e-6, id=f"{s}")
    for i, s in enumerate([(1,), (7,), (16,), (1003,), (2, 3, 5), (2, 128, 3072), (0, 4)])
]
CASES += [
    Case("erf", (rand(4096, low=-8, high=8),), atol=2e-6, id="saturating"),
    Case("erf", (np.array([0.0, -0.0, np.inf, -np.inf, 1e-30, -5.0, 5.0], np.float32),), atol=2e-6, id="edges"),
    Case("erf", (rand(1000, low=-1e-3, high=1e-3),), rtol=1e-4, atol=0, id="tiny"),  # relative accuracy near 0
]

# ---- slice: (shape, starts, ends, axes, steps) -------------------------------------------------------------
SLICES = [
    ((10,), [2], [7], None, None),
    ((10,), [-3], [100], None, None),  # negative start, end past the axis
    ((10,), [9], [-100], None, [-1]),  # reversed, end before the axis
    ((10,), [-1], [-(2**63)], None, [-3]),  # ONNX "through index 0" with a negative step
    ((10,), [0], [2**63 - 1], None, [4]),  # ONNX "to the end"
    ((10,), [5], [2], None, None),  # empty
    ((6, 9), [1, 8], [5, 0], [0, 1], [1, -2]),
    ((6, 9), [1], [3], [-1], None),  # negative axis
    ((4, 5, 33), [0, 3], [4, 30], [0, 2], [1, 1]),  # inner rows of 27 (not a multiple of 16)
    ((4, 5, 33), [2], [-1], [1], [2]),  # step on a middle axis: rows stay contiguous
    ((3, 1, 7), [0], [1], [1], None),  # size-1 axis
    ((2, 3, 4, 5, 6, 7), [1, 1, 1, 1, 1, 1], [2, 3, 4, 5, 6, 7], None, [1, 2, 3, 2, 1, 2]),  # six strided dims
    ((2, 3, 4, 5, 6, 7, 2), [0, 0, 0, 0, 0], [2, 3, 4, 5, 6], None, [1, 2, 1, 2, 1]),  # rank 7: last 2 merge
    ((0, 5), [0], [3], [1], None),  # empty input
    ((), [], [], None, None),  # 0-d: nothing to slice
    ((8, 128, 2304), [768], [1536], [2], None),  # BERT-base fused QKV: take K
    ((8, 128, 768), [0], [1], [1], None),  # BERT pooler: the [CLS] token
    ((1, 64, 56, 56), [1, 1], [56, 56], [2, 3], [2, 2]),  # ResNet-50 downsample (stride-2 1x1 input)
]
CASES += [
    _exact("slice", (rand(*s, seed=i),), {"starts": b, "ends": e, "axes": a, "steps": st}, f"{s}{b}{e}{a}{st}")
    for i, (s, b, e, a, st) in enumerate(SLICES)
]
CASES += [
    _exact("slice", (_ints(6, 9),), {"starts": [1, 8], "ends": [5, 0], "axes": [0, 1], "steps": [1, -2]}, "i32"),
    _exact("slice", (_bools(6, 9),), {"starts": [1], "ends": [5], "axes": [1], "steps": [3]}, "bool"),
    _exact("slice", (rand(6, 9),), {"starts": np.array([1], np.int64), "ends": np.array([4], np.int64)}, "np-ints"),
]

# ---- broadcast_to: (shape, target) ---------------------------------------------------------------------------
BROADCASTS = [
    ((1,), (17,)),  # splat of one element, not a multiple of 16
    ((3,), (4, 3)),  # new leading dim: row copies
    ((3, 1), (3, 37)),  # inner splat
    ((2, 1, 5), (2, 4, 5)),
    ((5,), (5,)),  # no-op: one flat copy
    ((), (2, 3)),  # 0-d
    ((1, 3, 1, 2, 1, 3), (2, 3, 2, 2, 2, 3)),  # six alternating dims: nothing merges
    ((3, 1), (0, 3, 4)),  # empty
    ((2, 1, 1, 128), (2, 12, 128, 128)),  # BERT attention mask (Expand)
    ((1, 128), (8, 128)),  # BERT position ids
    ((1, 64, 1, 1), (2, 64, 56, 56)),  # ResNet-50: per-channel values over the map
]
CASES += [_exact("broadcast_to", (rand(*s, seed=i),), {"shape": t}, f"{s}->{t}") for i, (s, t) in enumerate(BROADCASTS)]
CASES += [
    _exact("broadcast_to", (_ints(3, 1),), {"shape": (2, 3, 5)}, "i32"),
    _exact("broadcast_to", (_bools(2, 1, 1, 9),), {"shape": (2, 3, 9, 9)}, "bool-mask"),
    _exact("broadcast_to", (rand(4),), {"shape": 4}, "int-shape"),
]

# ---- take: (a shape, indices, axis) ---------------------------------------------------------------------------
TAKES = [
    ((10,), np.array([0, 9, -1, -10, 3], np.int32), 0),  # negative indices wrap
    ((10, 7), np.array([[1, 2], [3, -4]], np.int32), 0),
    ((4, 5, 6), np.array([4, 0, -5], np.int32), 1),
    ((4, 5, 6), np.array([5, 0], np.int32), -1),  # the last axis: element gathers
    ((4, 5, 6), np.int32(2), 1),  # a scalar index drops the axis
    ((4, 5), np.zeros((0,), np.int32), 0),  # no indices
    ((0, 5), np.zeros((0, 2), np.int32), 0),  # empty axis, no indices
    ((3, 4), np.array([1, 11], np.int32), None),  # flattened
    ((1000, 64), rand(2, 16, dtype="int32", low=0, high=1000), 0),  # embedding lookup
    ((5000, 768), rand(8, 128, dtype="int32", low=0, high=5000), 0),  # BERT-base hidden size, smaller vocab
    ((8, 128, 768), np.int32(0), 1),  # BERT pooler: the [CLS] token
]
CASES += [_exact("take", (rand(*s, seed=i), ind), {"axis": ax}, f"{s}-{i}") for i, (s, ind, ax) in enumerate(TAKES)]
CASES += [
    _exact("take", (_ints(10, 3), np.array([2, -1], np.int32)), {}, "i32"),
    _exact("take", (_bools(10, 3), np.array([2, -1], np.int32)), {"axis": 1}, "bool"),
    _exact("take", (rand(10, 3), np.array([2, -1], np.int64)), {}, "int64-indices"),
    _exact("take", (rand(10, 3), [0, 5, 9]), {}, "list-indices"),
]

# ---- cast --------------------------------------------------------------------------------------------------------
_F = np.array([0.0, -0.0, 0.5, -0.5, 1.99, -1.99, 7.0, -3e9, 3e9, np.nan, np.inf, -np.inf, 2**31 - 128], np.float32)
CASTS = [
    (rand(1003, low=-1e4, high=1e4), "int32", "f32->i32"),  # truncation toward zero
    (_F, "int32", "f32->i32-edges"),  # NaN -> 0, out of range saturates
    (_F, "bool", "f32->bool-edges"),  # NaN -> True
    (_ints(7, 5, low=-(2**31), high=2**31 - 1), "float32", "i32->f32"),  # rounds to nearest
    (_ints(33, low=-2, high=3), "bool", "i32->bool"),
    (_bools(3, 17), "float32", "bool->f32"),
    (_bools(3, 17), np.int32, "bool->i32"),
    (_bools(3, 17), "bool", "bool->bool"),
    (rand(2, 3), np.dtype("float32"), "f32->f32"),
    (_ints(2, 3), "int64", "i32->int64(int32)"),
    (rand(0, 3), "int32", "empty"),
    (rand(8, 1, 1, 128, low=0, high=2).round(), "bool", "BERT-mask"),
]
CASES += [_exact("cast", (x,), {"dtype": dt}, id) for x, dt, id in CASTS]

# ---- where: (cond, x, y) -----------------------------------------------------------------------------------------
WHERES = [
    ((37,), (37,), (37,)),  # vvv
    ((3, 37), (3, 1), (37,)),  # vsv
    ((3, 1), (3, 37), (1, 37)),  # svv
    ((4, 1, 5), (1, 3, 1), (4, 3, 5)),
    ((), (), ()),  # 0-d
    ((1,), (2, 1), (1, 17)),
    ((2, 1, 3, 1, 2), (1, 2, 1, 2, 1), (2, 2, 3, 2, 2)),  # five alternating dims: nothing merges
    ((0, 3), (1, 3), (3,)),  # empty
    ((8, 1, 1, 128), (), (8, 12, 128, 128)),  # BERT: masked_fill of attention scores
    ((2, 1, 1, 16), (1,), ()),  # mask -> additive bias
]
CASES += [
    _exact("where", (_bools(*c, seed=i), rand(*x, seed=i + 1), rand(*y, seed=i + 2)), {}, f"{c}{x}{y}")
    for i, (c, x, y) in enumerate(WHERES)
]
CASES += [
    _exact("where", (_bools(5, 33), _ints(5, 33), _ints(1, seed=3)), {}, "i32"),
    _exact("where", (_ints(5, 33, low=-2, high=3), rand(5, 33), rand(33)), {}, "i32-condition"),
    _exact("where", (rand(5, 33, low=-1, high=1).round(), rand(5, 33), rand(33)), {}, "f32-condition"),
    _exact("where", (_bools(2, 1, 1, 16), 0.0, -np.inf), {}, "python-scalars"),
    _exact("where", (_bools(4, 9), rand(4, 9), -1e9), {}, "array-and-scalar"),
    _exact("where", (_bools(4, 9), 1, _ints(9)), {}, "int-scalar"),
    _exact("where", (True, rand(3), rand(2, 3)), {}, "python-bool-condition"),
]

CASES += [
    _exact("logical_not", (_bools(*s, seed=i),), {}, f"{s}") for i, s in enumerate([(1,), (37,), (2, 1, 1, 128), (0,)])
]

# ---- comparisons: exact; NaN compares false ----------------------------------------------------------------------
_NANS = np.array([np.nan, 1.0, np.nan, -np.inf, 0.0, -0.0], np.float32)
COMPARE_SHAPES = [((37,), (37,)), ((3, 37), (37,)), ((3, 1), (1, 37)), ((), ()), ((0, 3), (1, 3)), ((2, 16), ())]
for _op in ("equal", "less", "less_equal", "greater", "greater_equal"):
    CASES += [
        _exact(_op, (_ints(*a, seed=i, low=-3, high=3), _ints(*b, seed=i + 1, low=-3, high=3)), {}, f"i32{a}{b}")
        for i, (a, b) in enumerate(COMPARE_SHAPES)
    ]
    CASES += [
        _exact(_op, (rand(3, 37).round(), rand(3, 1).round()), {}, "f32"),
        _exact(_op, (_NANS, _NANS[::-1].copy()), {}, "nan"),
        _exact(_op, (_ints(2, 16, low=0, high=2), 0), {}, "mask==0"),
        _exact(_op, (1.5, rand(4, 5).round()), {}, "scalar-first"),
    ]

"""Layout ops: exact copies (tolerance 0), size-1 and empty dims, rank 1..6, negative axes, model shapes.

Layout ops move values without arithmetic, so every case demands bit-exact equality (rtol = atol = 0).
"""

from . import Case, rand


def _case(op: str, inputs: tuple, attrs: dict | None = None, id: str = "") -> Case:
    return Case(op, inputs, attrs or {}, rtol=0, atol=0, id=id)


def _ints(*shape: int, seed: int = 0):
    return rand(*shape, dtype="int32", seed=seed, low=-1000, high=1000)


TRANSPOSE = [  # (shape, axes)
    ((7,), None),
    ((5, 3), None),
    ((1, 1), None),
    ((17, 33), (1, 0)),  # tiled path with row and column tails
    ((64, 48), (1, 0)),  # whole tiles only
    ((2, 3, 4), (2, 0, 1)),
    ((2, 3, 4), (1, 0, 2)),  # rows of 4 stay contiguous
    ((3, 1, 5), (-1, 0, -2)),  # negative axes, size-1 dim
    ((4, 5, 6), (2, 1, 0)),  # x's contiguous dim lands first: tiled path with it as loop 4
    ((2, 3, 4, 5), (0, 1, 2, 3)),  # identity: merges to one flat copy
    ((2, 3, 4, 5), (3, 2, 1, 0)),
    ((2, 3, 4, 5, 6), (4, 0, 3, 1, 2)),
    ((2, 3, 2, 3, 2, 3), (5, 3, 1, 4, 2, 0)),  # six unmergeable dims
    ((2, 3, 2, 3, 2, 3), (1, 0, 3, 2, 5, 4)),
    ((2, 1, 3, 1, 4, 1, 5), (6, 4, 5, 2, 3, 0, 1)),  # rank 7 with size-1 dims: 4 dims after dropping them
    ((0, 3), (1, 0)),  # empty
    ((4, 0, 2), (2, 0, 1)),
    ((), None),  # 0-d
    ((8, 128, 12, 64), (0, 2, 1, 3)),  # BERT-base: split heads
    ((8, 12, 128, 64), (0, 2, 1, 3)),  # BERT-base: merge heads
    ((8, 12, 128, 64), (0, 1, 3, 2)),  # BERT-base: K^T for the attention scores
    ((768, 3072), (1, 0)),  # BERT-base FFN weight
    ((2, 64, 56, 56), (0, 2, 3, 1)),  # ResNet-50 stage 1: NCHW -> NHWC
    ((2, 56, 56, 64), (0, 3, 1, 2)),  # NHWC -> NCHW
    ((1, 2048, 7, 7), (0, 2, 3, 1)),  # ResNet-50 last stage
]
CASES = [_case("transpose", (rand(*s, seed=i),), {"axes": a}, f"{s}{a}") for i, (s, a) in enumerate(TRANSPOSE)]
CASES += [
    _case("transpose", (_ints(*s, seed=i),), {"axes": a}, f"i32{s}{a}")
    for i, (s, a) in enumerate(TRANSPOSE)
    if len(s) <= 4 and s != (768, 3072)
]

RESHAPE = [  # (shape, new shape)
    ((6,), (2, 3)),
    ((2, 3), -1),
    ((2, 3, 4), (4, -1)),
    ((1, 1, 1), ()),
    ((), (1, 1)),
    ((1,), ()),
    ((0, 4), (-1, 2)),
    ((0, 4), (0,)),
    ((5, 7, 3), (3, 5, 7)),
    ((8, 128, 768), (8, 128, 12, 64)),  # BERT-base: split heads
    ((2, 2048, 1, 1), (2, 2048)),  # ResNet-50 before the classifier
]
CASES += [_case("reshape", (rand(*s, seed=i),), {"shape": n}, f"{s}->{n}") for i, (s, n) in enumerate(RESHAPE)]
CASES += [_case("reshape", (_ints(*s, seed=i),), {"shape": n}, f"i32{s}->{n}") for i, (s, n) in enumerate(RESHAPE)]

FLATTEN = [  # (shape, attrs)
    ((2, 3, 4), {}),
    ((2, 3, 4), {"start_dim": 0}),
    ((2, 3, 4, 5), {"start_dim": 1, "end_dim": 2}),
    ((2, 3, 4, 5), {"start_dim": -3, "end_dim": -2}),
    ((2, 3, 4, 5), {"start_dim": 2, "end_dim": 2}),  # no-op merge
    ((7,), {"start_dim": 0}),
    ((), {"start_dim": 0}),  # 0-d -> (1,)
    ((3, 0, 2), {}),  # empty
    ((2, 2048, 1, 1), {}),  # ResNet-50 head (nn.Flatten)
]
CASES += [_case("flatten", (rand(*s, seed=i),), a, f"{s}{a}") for i, (s, a) in enumerate(FLATTEN)]
CASES += [_case("flatten", (_ints(2, 3, 4),), {"start_dim": 0}, "i32")]


def _many(shapes, dtype="float32"):
    return [rand(*s, dtype=dtype, seed=i, low=-1000, high=1000) for i, s in enumerate(shapes)]


CONCAT = [  # (shapes, axis)
    ([(5,)], 0),  # a single array: a copy
    ([(3,), (4,)], 0),
    ([(2, 3), (2, 5)], 1),
    ([(2, 3), (4, 3), (1, 3)], 0),
    ([(2, 3, 4), (2, 1, 4), (2, 7, 4)], -2),
    ([(2, 3), (2, 0), (2, 4)], 1),  # an empty input
    ([(0, 3), (0, 5)], 1),  # empty output
    ([(2, 0), (2, 0)], 1),  # empty output, no input left after dropping empty ones
    ([(2, 3), (3, 2)], None),  # axis None flattens first
    ([(1, 1, 1, 1, 1, 2), (1, 1, 1, 1, 1, 3)], 5),  # rank 6
    ([(3, 4, 5)] * 5, 2),  # 5 inputs -> concat8
    ([(2, k + 1) for k in range(9)], 1),  # 9 inputs -> concat32
    ([(2, 3)] * 32, 0),  # exactly one concat32
    ([(2, k % 5 + 1, 3) for k in range(40)], 1),  # 40 inputs: concat32 then PREV + 8
    ([(1, 2)] * 70, 1),  # 70 inputs: three calls
    ([(4, 64, 56, 56), (4, 32, 56, 56), (4, 32, 56, 56), (4, 32, 56, 56)], 1),  # DenseNet-121 block 1
    ([(1, 256, 7, 7), (1, 256, 7, 7)], -1),  # ResNet-like, along W
    ([(8, 1, 768), (8, 128, 768)], 1),  # BERT: [CLS] token + sequence
]
CASES += [_case("concatenate", (_many(s),), {"axis": a}, f"{len(s)}x{s[0]}-axis{a}") for s, a in CONCAT]
CASES += [
    _case("concatenate", (_many(s, "int32"),), {"axis": a}, f"i32-{len(s)}x{s[0]}-axis{a}") for s, a in CONCAT[:15]
]

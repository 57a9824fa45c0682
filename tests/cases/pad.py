"""pad: every np.pad pad_width form, unpadded axes the host collapses away, ranks 0 to 6, int32, empty."""

import numpy as np

from . import Case, rand


def _pad(shape, pad_width, dtype="float32", seed=0, **attrs):
    low, high = (-100, 100) if dtype == "int32" else (-3.0, 3.0)
    x = rand(*shape, dtype=dtype, seed=seed, low=low, high=high) if shape else np.asarray(1.5, dtype)
    return Case("pad", (x, pad_width), attrs, id=f"{dtype}{shape}{pad_width}{attrs or ''}")


CASES = [
    _pad((5,), 2),
    _pad((7,), (0, 3)),
    _pad((7,), (4, 0), constant_value=-1.5),
    _pad((3, 4), 1),
    _pad((3, 4), (2, 1)),
    _pad((3, 4), ((1, 0), (0, 2))),
    _pad((3, 4), ((0, 0), (0, 0))),  # no padding at all: a copy
    _pad((3, 4), [[2, 3]]),  # one pair for every axis
    _pad((3, 4), (1,)),
    _pad((1, 64, 112, 112), ((0, 0), (0, 0), (1, 1), (1, 1))),  # ResNet-50 stem conv / max pool padding
    _pad((1, 3, 224, 224), ((0, 0), (0, 0), (3, 3), (3, 3))),  # ResNet-50 7x7 stem conv
    _pad((2, 3, 5, 7), ((0, 0), (1, 2), (0, 0), (3, 0)), constant_value=float("-inf")),
    _pad((2, 3, 5, 7), ((1, 1), (0, 0), (0, 0), (0, 0))),  # only the outermost axis: no batch axis
    _pad((2, 3, 1, 4, 1, 5), 1),  # rank 6, every axis padded
    _pad((2, 1, 3, 1, 2, 2, 3), ((0, 0), (1, 0), (0, 1), (1, 1), (0, 0), (2, 0), (0, 1))),  # rank 7, 5 padded
    _pad((8, 128, 768), ((0, 0), (0, 3), (0, 0)), constant_value=0.25),  # sequence padding
    _pad((4, 0, 3), 1),  # empty input, non-empty output
    _pad((0, 3), ((0, 0), (2, 2))),  # empty input and output
    _pad((), 3),  # rank 0: np.pad returns the scalar
    _pad((17,), (16, 15), dtype="int32"),
    _pad((3, 4, 5), ((1, 2), (0, 0), (3, 4)), dtype="int32", constant_value=-7),
    _pad((2, 3), 2, dtype="int32", constant_value=2.9),  # cast to the dtype, as np.pad does
    _pad((1, 1), 0),
]

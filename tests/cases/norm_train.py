"""batch_norm_train / batch_norm_backward over axis 1 of ranks 2 to 5 (BatchNorm1d, 2d, 3d), LeNet /
ResNet-on-digits shapes, inner sizes around the 16-lane width; layer_norm_backward over one or several
trailing axes (BERT rows). Statistics passed to the backward ops are the forwards' float64 ones, cast.
"""

import numpy as np

from . import Case, rand


def _bn_stats(x):
    axes = (0, *range(2, x.ndim))
    x64 = x.astype(np.float64)
    return x64.mean(axis=axes).astype(np.float32), (1 / np.sqrt(x64.var(axis=axes) + 1e-5)).astype(np.float32)


CASES = []
for i, shape in enumerate([(8, 5), (4, 3, 5, 5), (2, 16, 17, 19), (32, 64, 4, 4), (3, 4, 2, 2, 2), (2, 6, 8, 8)]):
    c = shape[1]
    x = rand(*shape, seed=i) + 1.5
    gamma, beta, rm = rand(c, seed=10 + i), rand(c, seed=20 + i), rand(c, seed=30 + i)
    rv = rand(c, seed=40 + i, low=0.1, high=2)
    tag = "x".join(map(str, shape))
    CASES.append(Case("batch_norm_train", (x, gamma, beta, rm, rv), rtol=1e-5, atol=1e-5, id=tag))
    CASES.append(
        Case("batch_norm_train", (x, gamma, beta, rm, rv), {"momentum": 0.0, "eps": 1e-3}, atol=1e-5, id=f"{tag}-m0")
    )
    mean, inv = _bn_stats(x)
    CASES.append(
        Case("batch_norm_backward", (x, rand(*shape, seed=50 + i), gamma, mean, inv), rtol=1e-4, atol=1e-4, id=tag)
    )

for i, (shape, axis) in enumerate([((4, 7), -1), ((2, 3, 33), -1), ((2, 3, 4, 5), 2), ((128, 768), -1), ((5, 1), -1)]):
    x = rand(*shape, seed=i) * 2 + 1
    red = tuple(range(axis % len(shape), len(shape)))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=red, keepdims=True).astype(np.float32)
    inv = (1 / np.sqrt(x64.var(axis=red, keepdims=True) + 1e-5)).astype(np.float32)
    gamma = rand(*shape[axis % len(shape) :], seed=10 + i)
    CASES.append(
        Case(
            "layer_norm_backward",
            (x, rand(*shape, seed=20 + i), gamma, mean, inv),
            {"axis": axis},
            rtol=1e-4,
            atol=1e-4,
            id=f"{shape}-axis{axis}",
        )
    )

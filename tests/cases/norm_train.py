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

# fuzz finds (issue 14), each failed on the code before its fix:
# batch_norm_train: a constant channel of large values (the float32 mean off by an ulp) had variance ulp²,
# invstd 1e-8 instead of 1 / sqrt(eps); an infinite gamma gave NaN (inf - inf) where (x - mean) * inf is ±inf
_const = rand(4, 3, 5, 5, seed=12)
_const[:, 0] = 5.2662e14
_const[:, 2] = 3.3e4
_g3, _b3, _rm3, _rv3 = rand(3, seed=13), rand(3, seed=14), rand(3, seed=15), rand(3, seed=16, low=0.1, high=2)
CASES.append(Case("batch_norm_train", (_const, _g3, _b3, _rm3, _rv3), rtol=1e-5, atol=1e-5, id="constant-channels"))
_inf_gamma = np.array([np.inf, -np.inf, 1.0], np.float32)
CASES.append(
    Case("batch_norm_train", (rand(4, 3, 5, 5, seed=17), _inf_gamma, _b3, _rm3, _rv3), atol=1e-5, id="inf-gamma")
)
# batch_norm_backward: dx was a * dy + b * x + d, and b * x + d cancels when |mean| >> the spread (raw pixel
# values 1000 +- 1): now gamma * (inv * (dy - mean(dy) - xhat * mean(dy * xhat)))
_shifted = rand(8, 4, 6, 6, seed=18, low=-1, high=1) + 1000.0
_m4, _i4 = _bn_stats(_shifted)
CASES.append(
    Case("batch_norm_backward", (_shifted, rand(8, 4, 6, 6, seed=19), rand(4, seed=20), _m4, _i4),
         rtol=1e-4, atol=1e-4, id="large-mean")
)  # fmt: skip

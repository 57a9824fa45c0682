"""batch_norm and layer_norm: every rank the host collapse handles, rows shorter than / not a multiple of
the 16-lane partial sums, broadcast scale / bias, and the ResNet-50 / BERT-base layer shapes."""

import numpy as np

from . import Case, rand


def _bn(shape, seed=0, **attrs):
    c = shape[1]
    params = (
        rand(c, seed=seed + 1),
        rand(c, seed=seed + 2),
        rand(c, seed=seed + 3),
        rand(c, seed=seed + 4, low=0.01, high=4.0),
    )
    return Case(
        "batch_norm", (rand(*shape, seed=seed), *params), attrs, rtol=1e-5, atol=1e-5, id=f"{shape}{attrs or ''}"
    )


# batch_norm: (x - mean) * (1 / sqrt(var + eps)) * scale + bias rounds a few ulp off the float64 reference,
# and results near 0 (bias cancelling) need a small absolute tolerance.
CASES = [
    _bn((2, 3)),  # rank 2: inner size 1
    _bn((1, 1, 1, 1)),
    _bn((2, 5, 7)),
    _bn((3, 4, 5, 6), seed=3),
    _bn((1, 256, 56, 56)),  # ResNet-50 layer1
    _bn((2, 64, 17, 17), seed=5, epsilon=1e-3),
    _bn((1, 3, 2, 3, 4, 5)),  # rank 6 (3-D conv style N, C, D, H, W)
    _bn((0, 4, 5, 5)),  # empty batch
    _bn((2, 0, 3)),  # no channels
    Case(
        "batch_norm",
        (
            rand(2, 3, 4),
            np.ones(3, np.float32),
            np.zeros(3, np.float32),
            np.zeros(3, np.float32),
            np.ones(3, np.float32),
        ),
        {"epsilon": 0.0},
        id="eps0",
    ),
    Case(  # a subnormal scale times 1 / sqrt(1e15) underflowed to 0 when folded: -inf * 0 gave NaN, not -inf
        "batch_norm",
        (
            np.array([[[-np.inf, 1.0, np.inf, -2.0]]], np.float32),
            np.array([1.4e-45], np.float32),
            np.array([-1.0931664e15], np.float32),
            np.array([-8.426629e14], np.float32),
            np.array([9.8530395e14], np.float32),
        ),
        id="subnormal-scale-infinite-x",
    ),
]


def _ln(shape, axis=-1, seed=0, params=True, rtol=1e-5, atol=1e-5, **attrs):
    norm = shape[axis % len(shape) :]
    inputs = (rand(*shape, seed=seed),)
    if params:
        inputs += (rand(*norm, seed=seed + 1), rand(*norm, seed=seed + 2))
    return Case(
        "layer_norm",
        inputs,
        {"axis": axis, **attrs},
        rtol=rtol,
        atol=atol,
        id=f"{shape}axis{axis}{'' if params else '-noparams'}{attrs or ''}",
    )


# layer_norm: float32 row statistics vs the float64 reference; outputs near 0 need an absolute tolerance.
CASES += [
    _ln((1,)),  # a single element normalises to 0 (var 0), so y = bias
    _ln((3, 1)),
    _ln((4, 7)),  # K < 16: no vector blocks, tail only
    _ln((5, 16)),  # exactly one block, no tail
    _ln((2, 33)),  # blocks + tail
    _ln((3, 1000), seed=2),
    _ln((2, 3, 4, 5), axis=1),  # normalise over the last three axes
    _ln((2, 3, 4, 5), axis=-2),
    _ln((2, 3, 4, 5), axis=0),  # one row: the whole tensor
    _ln((6, 10), params=False),
    _ln((2, 3, 10), params=False, epsilon=1e-3),
    _ln((8, 128, 768), seed=4),  # BERT-base hidden states
    _ln((0, 9)),  # no rows
    Case(
        "layer_norm", (rand(2, 3, 4), rand(4, seed=1), rand(1, seed=2)), {"axis": 1}, atol=1e-5, id="broadcast-params"
    ),
    # a mean of ~100 next to a spread of ~0.3: x - mean in float32 is off by ~ulp(100) = 8e-6, i.e. 3e-5 of
    # the normalised value; the two-pass variance keeps it at that (a one-pass E[x^2] - E[x]^2 would not)
    Case("layer_norm", (rand(4, 50, low=100.0, high=101.0),), rtol=1e-4, atol=1e-4, id="large-mean"),
    Case("layer_norm", (np.full((3, 20), 2.5, np.float32),), id="constant-rows"),
    # the fuzz's find: a row of 60 equal values of 8e14 normalised to O(1) noise, not 0, until the mean was
    # taken of the data shifted by its first value
    Case("layer_norm", (np.full((2, 60), 7.961501e14, np.float32),), id="constant-huge-rows"),
]

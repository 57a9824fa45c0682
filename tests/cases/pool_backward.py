"""max_pool2d_backward / avg_pool2d_backward: kernel == stride (LeNet), overlapping windows (ResNet's 3x3/2
stem pool), asymmetric pads, dilation, ceil_mode, both count_include_pad modes, unbatched inputs and ties
(the first maximum takes the gradient). dy has the forward's output shape; references are float64 numpy.
"""

import numpy as np

from wasmops.ops import all_ops

from . import Case, rand

# x shape, kernel, strides, pads, dilations, ceil_mode, id
LAYOUTS = [
    ((2, 6, 28, 28), 2, 2, 0, 1, False, "lenet-2x2"),
    ((1, 8, 32, 32), 3, 2, 1, 1, False, "resnet-stem-3x3s2"),
    ((1, 2, 9, 9), 3, 2, 1, 1, True, "ceil-mode"),
    ((1, 2, 10, 11), (3, 2), (1, 2), (1, 0, 1, 1), 1, False, "asym"),
    ((3, 7, 7), 3, 1, 1, 1, False, "unbatched-s1"),
    ((1, 3, 12, 12), 3, 1, 0, 2, False, "dilated"),
    ((1, 1, 1, 1), 1, 1, 0, 1, False, "1x1"),
]


CASES = []
for i, (shape, k, s, p, d, ceil, tag) in enumerate(LAYOUTS):
    x = rand(*shape, seed=i)
    out = all_ops()["max_pool2d"].reference(x, k, s, p, d, ceil).shape  # the forward's output shape
    dy = rand(*out, seed=30 + i)
    CASES.append(Case("max_pool2d_backward", (x, dy, k, s, p, d, ceil), id=tag))
    if d == 1:
        for include in (True, False):
            CASES.append(
                Case(
                    "avg_pool2d_backward",
                    (dy, shape, k, s, p, include, ceil),
                    rtol=1e-5,
                    atol=1e-6,
                    id=f"{tag}-{include}",
                )
            )
_ties = np.repeat(np.repeat(rand(1, 2, 4, 4, low=0, high=3, dtype="int32").astype(np.float32), 2, 2), 2, 3)
CASES.append(Case("max_pool2d_backward", (_ties, rand(1, 2, 6, 6), 3, 1), id="ties"))

# fuzz find (issue 14): a window holding NaN has a NaN maximum (forward max_pool2d) and its first NaN takes
# the gradient (PyTorch); the compare-select max dropped it, or gave it to a number, by the NaN's position
_nan = rand(1, 2, 6, 6, seed=9)
_nan[0, 0, 0, 0] = _nan[0, 0, 1, 3] = _nan[0, 0, 3, 2] = _nan[0, 1, 5, 5] = np.nan
CASES.append(Case("max_pool2d_backward", (_nan, rand(1, 2, 4, 4, seed=10), 3, 1), id="nan-windows"))
CASES.append(Case("max_pool2d_backward", (_nan, rand(1, 2, 4, 4, seed=11), 2, 2, 1), id="nan-windows-padded"))
# a window whose pixels are all -inf, next to padding: its first pixel takes the gradient (PyTorch); the
# reference's -inf padding tied with them and took it away (a reference fix)
_ninf = rand(1, 1, 6, 6, seed=12)
_ninf[0, 0, 0, 5] = _ninf[0, 0, 5, 0] = -np.inf
CASES.append(Case("max_pool2d_backward", (_ninf, rand(1, 1, 4, 4, seed=13), 2, 2, 1), id="ninf-beside-padding"))

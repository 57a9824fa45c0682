"""conv2d_backward_data / conv2d_backward_weight: strides, asymmetric pads, dilations, groups, depthwise
(with a channel multiplier), 1x1, a floor-rounded output (rows no window reads) and ResNet / MobileNet
layer shapes. The dy of each case has the forward's output shape; references are float64 numpy adjoints.
"""

import numpy as np

from . import Case, rand

# (N, C, H, W), (K, C // groups, KH, KW), strides, pads, dilations, groups, id
LAYERS = [
    ((2, 3, 9, 11), (4, 3, 3, 3), 1, 1, 1, 1, "3x3"),
    ((1, 4, 10, 9), (6, 2, 3, 3), 2, (0, 1, 1, 0), 1, 2, "grouped-s2-asym"),
    ((2, 8, 7, 7), (8, 1, 3, 3), 1, 1, 1, 8, "depthwise"),
    ((1, 6, 12, 12), (12, 1, 3, 3), 2, 1, 2, 6, "depthwise-mult2-dil2-s2"),
    ((1, 5, 8, 8), (7, 5, 1, 1), 1, 0, 1, 1, "1x1"),
    ((1, 3, 11, 10), (4, 3, 3, 2), (2, 3), (1, 0), 1, 1, "floor-rounded"),
    ((3, 1, 16, 16), (6, 1, 5, 5), 1, 0, 1, 1, "lenet-c1"),
    ((1, 16, 28, 28), (16, 16, 3, 3), 1, 1, 1, 1, "resnet-3x3"),
    ((1, 16, 28, 28), (32, 16, 3, 3), 2, 1, 1, 1, "resnet-3x3-s2"),
    ((1, 32, 14, 14), (32, 1, 3, 3), 1, 1, 1, 32, "mobilenet-depthwise"),
    ((1, 3, 32, 32), (8, 3, 7, 7), 2, 3, 1, 1, "stem-7x7-s2"),
]


def _out(n, k, h, w, kh, kw, s, p, d):
    s = (s, s) if isinstance(s, int) else s
    d = (d, d) if isinstance(d, int) else d
    p = (p,) * 4 if isinstance(p, int) else (p * 2 if len(p) == 2 else p)
    oh = (h + p[0] + p[2] - d[0] * (kh - 1) - 1) // s[0] + 1
    ow = (w + p[1] + p[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    return (n, k, oh, ow)


CASES = []
for i, (xs, ws, s, p, d, g, tag) in enumerate(LAYERS):
    x, w = rand(*xs, seed=i), rand(*ws, seed=20 + i)
    dy = rand(*_out(xs[0], ws[0], xs[2], xs[3], ws[2], ws[3], s, p, d), seed=40 + i)
    geo = {"strides": s, "pads": p, "dilations": d, "groups": g}
    CASES += [
        Case("conv2d_backward_data", (dy, w, xs), geo, rtol=1e-4, atol=1e-4, id=tag),
        # the GEMM kernel that graphs use when the weight lives in wasm memory
        Case("conv2d_backward_data", (dy, w, xs), {**geo, "gemm": True}, rtol=1e-4, atol=1e-4, id=f"{tag}-gemm"),
        Case("conv2d_backward_weight", (x, dy, ws), geo, rtol=1e-4, atol=1e-3, id=tag),
    ]
CASES.append(
    Case(
        "conv2d_backward_weight",
        (rand(2, 4, 6, 6), rand(2, 5, 4, 4, seed=1), (3, 3)),
        rtol=1e-4,
        atol=1e-4,
        id="kernel-hw-only",
    )
)


def _nonfinite(dy_shape, w_shape, input_shape, at_dy, at_w, geo, tag):
    """inf / NaN at flat positions of dy and w (inf, NaN, ...): outputs no real tap of them reaches stay numbers.
    conv_transpose2d's plan multiplies missing taps by 0, and so does the GEMM kernel (graphs' path) where a
    tap misses dy: both run the fix-up kernel that re-sums NaN outputs over the real taps."""
    dy, w = rand(*dy_shape, seed=60), rand(*w_shape, seed=61)
    for arr, at in ((dy, at_dy), (w, at_w)):
        arr.flat[list(at)] = [(np.inf, np.nan)[i % 2] for i in range(len(at))]
    return Case("conv2d_backward_data", (dy, w, input_shape), geo, rtol=1e-4, atol=1e-4, id=tag)


CASES += [
    _nonfinite((1, 4, 3, 3), (4, 3, 3, 3), (1, 3, 6, 6), (2, 20), (), {"strides": 2, "pads": 1}, "nonfinite-dy"),
    _nonfinite(
        (1, 4, 6, 3),
        (4, 3, 3, 3),
        (1, 3, 11, 10),
        (),
        (5, 40),
        {"strides": (2, 3), "pads": (1, 0), "gemm": True},
        "nonfinite-w-gemm",
    ),
]

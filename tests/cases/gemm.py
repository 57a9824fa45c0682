"""dense, matmul, conv2d: tile edges (sizes below, at and above the 2x16 register tile), real layer shapes.

Tolerance: float32 accumulation over K terms against a float64 reference; rtol 1e-4 / atol 1e-4 covers
K up to a few thousand with inputs of unit scale.
"""

from . import Case, rand

TOL = {"rtol": 1e-4, "atol": 1e-4}


def _dense(m: int, n: int, k: int, bias: bool = True, lead: tuple[int, ...] = ()) -> Case:
    ins = (rand(*lead, m, k, seed=1), rand(n, k, seed=2, low=-0.5, high=0.5))
    if bias:
        ins += (rand(n, seed=3),)
    return Case("dense", ins, id=f"{lead}{m}x{n}x{k}{'' if bias else '-nobias'}", **TOL)


CASES = [
    _dense(1, 1, 1),
    _dense(1, 15, 7),
    _dense(2, 16, 16),
    _dense(3, 17, 33),
    _dense(5, 100, 9, bias=False),
    _dense(0, 4, 5),  # no rows: empty but valid
    _dense(4, 3, 0),  # no features: y = bias
    _dense(16, 10, 32, lead=(2, 3)),
    _dense(128, 768, 768),  # BERT-base attention projection
    _dense(1, 1000, 2048),  # ResNet-50 classifier (one row: the row kernel)
    _dense(1, 37, 48, bias=False, lead=(1, 1)),  # one row in leading dims, ragged outputs
    _dense(1, 20, 40),  # one row, K not a multiple of 16: the tiled kernel
]

MATMUL = [
    ((1, 1), (1, 1)),
    ((3, 5), (5, 17)),
    ((2, 16), (16, 16)),
    ((7,), (7, 3)),
    ((2, 5), (5,)),
    ((6,), (6,)),
    ((4, 3, 5), (5, 2)),
    ((1, 4, 9), (3, 9, 2)),
    ((3, 1, 5, 7), (4, 7, 9)),
    ((2, 1, 3, 4), (1, 5, 4, 6)),
    ((8, 12, 128, 64), (8, 12, 64, 128)),  # BERT-base attention scores
    ((0, 3), (3, 4)),
    ((2, 0), (0, 3)),
]
CASES += [Case("matmul", (rand(*a, seed=4), rand(*b, seed=5)), id=f"{a}@{b}", **TOL) for a, b in MATMUL]

CONV = [
    # (x shape, weight shape, attrs)
    ((1, 1, 1, 1), (1, 1, 1, 1), {}),
    ((1, 3, 7, 9), (5, 3, 3, 3), {}),
    ((2, 4, 17, 19), (3, 4, 3, 3), {"padding": 1}),
    ((1, 64, 56, 56), (64, 64, 3, 3), {"padding": 1}),  # ResNet-50 conv2_x 3x3
    ((1, 256, 56, 56), (64, 256, 1, 1), {}),  # ResNet-50 conv2_x 1x1 reduce
    ((1, 3, 224, 224), (64, 3, 7, 7), {"stride": 2, "padding": 3}),  # ResNet-50 stem
    ((1, 128, 28, 28), (128, 128, 3, 3), {"stride": 2, "padding": 1}),  # stride-2 3x3
    ((1, 512, 28, 28), (256, 512, 1, 1), {"stride": 2}),  # projection shortcut
    ((2, 6, 11, 13), (4, 6, 3, 2), {"stride": (2, 3), "padding": (1, 0, 2, 1)}),  # odd strides, asymmetric pads
    ((1, 6, 9, 11), (4, 3, 3, 2), {"groups": 2, "dilation": 2, "stride": 3, "padding": 2}),
    ((2, 32, 17, 13), (32, 1, 3, 3), {"groups": 32, "padding": 1}),  # depthwise
    ((1, 32, 112, 112), (32, 1, 3, 3), {"groups": 32, "padding": 1}),  # MobileNetV2 depthwise
    ((1, 96, 23, 23), (96, 1, 3, 3), {"groups": 96, "padding": 1, "stride": 2}),  # depthwise, stride 2, odd rows
    ((2, 8, 17, 13), (16, 1, 3, 3), {"groups": 8, "padding": (1, 0, 2, 1), "dilation": (2, 1)}),  # multiplier 2
    ((1, 3, 9, 31), (6, 1, 5, 3), {"groups": 3, "stride": (2, 3)}),  # depthwise, unequal strides
    ((1, 8, 10, 10), (8, 8, 3, 3), {"dilation": (2, 1), "padding": "same"}),
    ((1, 2, 5, 5), (3, 2, 5, 5), {"padding": "valid"}),
    ((3, 2, 4, 4), (17, 2, 2, 2), {"stride": 2}),  # output channels not a multiple of the tile
]
CASES += [
    Case(
        "conv2d",
        (rand(*xs, seed=6), rand(*ws, seed=7, low=-0.5, high=0.5), rand(ws[0], seed=8)),
        attrs,
        id=f"{xs}*{ws}{attrs}",
        **TOL,
    )
    for xs, ws, attrs in CONV
]
CASES.append(Case("conv2d", (rand(1, 3, 8, 8, seed=9), rand(4, 3, 3, 3, seed=10)), {"padding": 1}, id="no-bias", **TOL))

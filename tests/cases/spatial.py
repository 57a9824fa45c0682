"""grid_sample: every (rank, mode, padding) kernel, both align_corners, grids reaching past the borders
(STN-style affine warps and optical-flow warps sample near and beyond the edges), odd sizes."""

from . import Case, rand

# linear / cubic: a float32 blend of up to 16 taps against the float64 reference
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _gs(xs, gs, seed=0, **attrs):
    ins = (rand(*xs, seed=seed), rand(*gs, seed=seed + 1, low=-1.3, high=1.3))
    return Case("grid_sample", ins, attrs, id=f"{xs}-{gs}{attrs}", **TOL)


CASES = [
    _gs((1, 3, 16, 16), (1, 8, 8, 2)),  # STN: bilinear, zeros, the default
    _gs((2, 4, 7, 9), (2, 5, 3, 2), mode="nearest", padding_mode="border"),
    _gs((2, 4, 7, 9), (2, 5, 3, 2), mode="nearest", padding_mode="reflection", align_corners=True),
    _gs((1, 2, 6, 5), (1, 4, 4, 2), mode="cubic", padding_mode="zeros", align_corners=True),
    _gs((1, 2, 6, 5), (1, 4, 4, 2), mode="cubic", padding_mode="reflection"),
    _gs((1, 2, 6, 5), (1, 4, 4, 2), mode="cubic", padding_mode="border"),
    _gs((1, 2, 6, 5), (1, 4, 4, 2), mode="linear", padding_mode="reflection", align_corners=True),
    _gs((1, 1, 1, 5), (1, 2, 3, 2), mode="linear", padding_mode="border"),  # unit height
    _gs((1, 2, 3, 4, 5), (1, 2, 3, 2, 3)),  # volumetric
    _gs((1, 2, 3, 4, 5), (1, 2, 3, 2, 3), mode="nearest", padding_mode="reflection"),
    _gs((1, 2, 3, 4, 5), (1, 2, 3, 2, 3), mode="linear", padding_mode="border", align_corners=True),
]

# issue 14: NaN / inf pixels (a NaN tap times a zero weight is NaN, as in onnx's ReferenceEvaluator, which the
# reference matches exactly); grids on pixel centres (align_corners: -1, 0, 1) give zero-weight taps
_SPECIAL_PIXELS = rand(1, 2, 4, 5, seed=14)
_SPECIAL_PIXELS[0, 0, 1, 2], _SPECIAL_PIXELS[0, 1, 2, 1], _SPECIAL_PIXELS[0, 0, 3, 4] = (
    float("nan"),
    float("inf"),
    -1e38,
)
_ON_CENTRES = rand(1, 3, 3, 2, seed=15, low=-1.3, high=1.3)
_ON_CENTRES[0, 0] = [[-1, -1], [0, 0], [1, 1]]
CASES += [
    Case(
        "grid_sample",
        (_SPECIAL_PIXELS, _ON_CENTRES),
        dict(mode=m, padding_mode=p, align_corners=True),
        id=f"nan-{m}-{p}",
        **TOL,
    )
    for m in ("linear", "cubic", "nearest")
    for p in ("zeros", "border", "reflection")
]

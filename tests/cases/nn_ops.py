"""lrn, conv_transpose2d, resize2d, pad_mode: real layer shapes (AlexNet / GoogLeNet LRN, DCGAN / U-Net /
FCN deconvolutions, YOLO / FPN upsampling, reflection padding), every attribute variant, edge sizes.

conv_transpose2d cases cover its three plans (stride 1, sub-pixel with each conv2d kernel and both
shuffle layouts, zero-insertion fallback with both dilate layouts)."""

import numpy as np

from wasmops.ops.resize import COORDINATE_MODES as COORDS

from . import Case, rand

# conv_transpose2d: float32 accumulation over C_in * KH * KW terms against a float64 reference (as conv2d)
CONV_TOL = {"rtol": 1e-4, "atol": 1e-4}
# resize2d linear / cubic: a float32 blend of 2-16 taps (cubic weights are negative: some cancellation)
BLEND_TOL = {"rtol": 1e-5, "atol": 1e-5}


def _lrn(shape, size, seed=0, **attrs):
    return Case("lrn", (rand(*shape, seed=seed), size), attrs, id=f"{shape}-size{size}{attrs or ''}")


CASES = [
    _lrn((1, 96, 55, 55), 5, alpha=1e-4, beta=0.75, bias=1.0),  # AlexNet / ZFNet norm1
    _lrn((1, 256, 27, 27), 5, alpha=1e-4, beta=0.75, bias=1.0),  # AlexNet norm2
    _lrn((1, 64, 56, 56), 5, alpha=1e-4, beta=0.75),  # GoogLeNet pool1/norm1
    _lrn((2, 7, 5, 3), 3, alpha=1.0, beta=0.5, bias=2.0),  # large alpha: the normalisation matters
    _lrn((1, 9, 4, 4), 4, alpha=0.5, beta=0.75, bias=1.5),  # even size: window 1 before, 2 after
    _lrn((1, 3, 17), 7, alpha=2.0, beta=1.0),  # rank 3, window wider than the channels
    _lrn((1, 1, 16, 1), 1, alpha=0.3, beta=0.3),  # one channel, size 1
    _lrn((2, 5, 2, 3, 4), 3, alpha=0.1, beta=2.0, bias=0.5),  # rank 5, bias < 1
    _lrn((1, 8, 1, 1), 5, alpha=1.0),  # one pixel: every row is the scalar tail
    _lrn((3, 4, 33), 2, alpha=0.7, beta=0.75),
    _lrn((0, 4, 3, 3), 5),  # empty batch
    Case("lrn", (rand(1, 6, 7, 9, low=-1e3, high=1e3), 5), {"alpha": 1e-3}, rtol=1e-5, atol=1e-4, id="wide-range"),
]


def _deconv(xs, ws, bias=True, seed=0, **attrs):
    ins = (rand(*xs, seed=seed), rand(*ws, seed=seed + 1, low=-0.5, high=0.5))
    if bias:
        ins += (rand(ws[1] * attrs.get("groups", 1), seed=seed + 2),)
    return Case("conv_transpose2d", ins, attrs, id=f"{xs}*{ws}{attrs}{'' if bias else '-nobias'}", **CONV_TOL)


CASES += [
    _deconv((1, 512, 4, 4), (512, 256, 4, 4), stride=2, padding=1),  # DCGAN generator
    _deconv((1, 64, 28, 28), (64, 32, 2, 2), stride=2),  # U-Net up-convolution
    _deconv((1, 21, 16, 16), (21, 21, 4, 4), bias=False, stride=2, padding=1),  # FCN upscore2
    _deconv((1, 21, 6, 6), (21, 21, 16, 16), bias=False, stride=8, padding=4),  # FCN-8s upscore8
    _deconv((2, 4, 5, 5), (4, 3, 3, 3), stride=2, padding=1, output_padding=1),  # odd size, output_padding
    _deconv((1, 6, 7, 4), (6, 2, 3, 2), stride=(2, 3), padding=(1, 0), dilation=(1, 2), groups=3),
    _deconv((1, 8, 9, 9), (8, 1, 3, 3), stride=2, padding=1, groups=8),  # depthwise
    _deconv((1, 3, 4, 4), (3, 5, 1, 1), stride=2),  # 1x1 kernel
    _deconv((1, 5, 10, 20), (5, 4, 3, 3), padding=1),  # stride 1: conv2d pads by itself
    _deconv((1, 5, 8, 8), (5, 4, 3, 3), padding=3),  # padding > k - 1: the zero-insertion fallback crops
    _deconv((1, 4, 9, 20), (4, 3, 3, 3), stride=2, padding=4),  # fallback at stride 2 (tiled conv)
    _deconv((1, 3, 4, 4), (3, 5, 1, 1), stride=2, padding=2),  # fallback into conv2d's 1x1 kernel
    _deconv((1, 3, 4, 20), (3, 5, 3, 3), dilation=2, output_padding=1),  # stride 1, output_padding < dilation
    _deconv((1, 4, 6, 7), (4, 3, 3, 3), stride=2, padding=(0, 1, 2, 0)),  # (top, left, bottom, right)
    _deconv((1, 2, 3, 3), (2, 2, 2, 2), stride=3),  # stride > kernel: gaps of bias only
    _deconv((1, 1, 1, 1), (1, 1, 1, 1)),
    _deconv((3, 2, 5, 18), (2, 17, 3, 3), stride=(1, 2), padding=(1, 1)),  # wide output: the tiled kernel
]


def _nonfinite(xs, ws, at_x=(), at_w=(), seed=0, **attrs):
    """inf / NaN in x (flat positions at_x: inf, -inf, NaN, ...) or the weight: the definition never multiplies
    them by a missing sub-pixel tap, an inserted zero or padding, so outputs those do not reach stay numbers."""
    x, w = rand(*xs, seed=seed), rand(*ws, seed=seed + 1, low=-0.5, high=0.5)
    for arr, at in ((x, at_x), (w, at_w)):
        arr.flat[list(at)] = [(np.inf, -np.inf, np.nan)[i % 3] for i in range(len(at))]
    tag = f"{xs}*{ws}{attrs}-nonfinite-x{list(at_x)}-w{list(at_w)}"
    bias = rand(ws[1] * attrs.get("groups", 1), seed=seed + 2)
    return Case("conv_transpose2d", (x, w, bias), attrs, id=tag, **CONV_TOL)


CASES += [  # each gave NaN where the reference (and onnxruntime) has ±inf or a number before the fix-up kernel
    _nonfinite((1, 3, 5, 6), (3, 2, 3, 3), at_x=(4, 40, 77), stride=2, padding=1),  # sub-pixel, missing taps
    _nonfinite((1, 4, 5, 5), (4, 3, 3, 3), at_x=(7,), stride=2, output_padding=1),  # one inf, 4-D shuffle
    _nonfinite((1, 3, 5, 6), (3, 2, 3, 3), at_w=(5, 30), stride=2, padding=1),  # weight inf / NaN, padding
    _nonfinite((1, 5, 6, 7), (5, 4, 3, 3), at_w=(0,), padding=1),  # stride 1: the padded border times inf
    _nonfinite((1, 4, 9, 20), (4, 3, 3, 3), at_w=(13,), stride=2, padding=4),  # zero-insertion fallback
    _nonfinite((1, 3, 4, 4), (3, 5, 1, 1), at_x=(0, 17), at_w=(4,), stride=2),  # 1x1: the flat fix-up layout
    _nonfinite((1, 6, 7, 4), (6, 2, 3, 2), at_x=(3, 50), stride=(2, 3), dilation=(1, 2), groups=3),
    _nonfinite((1, 4, 8, 8), (4, 2, 4, 4), at_x=(9, 100, 200), stride=2, padding=1),  # DCGAN: every tap real
]


def _resize(shape, seed=0, tol=None, **attrs):
    tol = tol if tol is not None else (BLEND_TOL if attrs.get("mode", "nearest") != "nearest" else {})
    return Case("resize2d", (rand(*shape, seed=seed),), attrs, id=f"{shape}{attrs}", **tol)


CASES += [
    _resize((1, 256, 13, 13), scales=2.0, coordinate_transformation_mode="asymmetric", nearest_mode="floor"),  # YOLOv3
    _resize((1, 256, 25, 38), size=(50, 76), coordinate_transformation_mode="asymmetric", nearest_mode="floor"),  # FPN
    _resize((1, 3, 224, 224), size=(299, 299), mode="linear"),  # preprocessing: bilinear, half_pixel
    _resize((2, 3, 17, 9), size=(6, 31), mode="linear", coordinate_transformation_mode="align_corners"),
    _resize((1, 2, 5, 7), scales=(1.7, 2.3), mode="cubic"),
    _resize((1, 2, 9, 8), size=(4, 3), mode="cubic", exclude_outside=True, cubic_coeff_a=-0.5),
    _resize((1, 1, 1, 1), size=(3, 2), mode="linear"),  # one input pixel
    _resize((1, 2, 6, 5), size=(1, 1), mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
    _resize((0, 3, 4, 4), scales=2.0),  # empty batch
]
CASES += [
    _resize((1, 3, 7, 5), seed=i, size=(11, 3), mode=m, coordinate_transformation_mode=c)
    for i, c in enumerate(COORDS)
    for m in ("nearest", "linear", "cubic")
]
CASES += [
    _resize((1, 2, 4, 6), size=(7, 3), nearest_mode=n, coordinate_transformation_mode="asymmetric")
    for n in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
]
CASES += [_resize((1, 2, 4, 6), scales=(2.0, 0.5), nearest_mode=n) for n in ("round_prefer_ceil", "simple")]


def _pad(shape, pad_width, mode, dtype="float32", seed=0):
    x = rand(*shape, dtype=dtype, seed=seed, low=-100, high=100) if dtype == "int32" else rand(*shape, seed=seed)
    return Case("pad_mode", (x, pad_width), {"mode": mode}, id=f"{dtype}{shape}{pad_width}-{mode}")


CASES += [_pad((7,), (3, 2), m) for m in ("reflect", "symmetric", "edge", "wrap")]
CASES += [
    _pad((1, 32, 256, 256), ((0, 0), (0, 0), (4, 4), (4, 4)), "reflect"),  # style transfer ReflectionPad2d
    _pad((1, 3, 224, 224), ((0, 0), (0, 0), (3, 3), (3, 3)), "edge"),
    _pad((2, 3, 5, 7), ((0, 0), (1, 2), (0, 0), (3, 0)), "symmetric"),  # unpadded axes between padded ones
    _pad((2, 3, 5, 7), ((1, 1), (0, 0), (0, 0), (0, 0)), "wrap"),  # an unpadded row: the last axis is copied
    _pad((3, 4), ((5, 7), (9, 6)), "reflect"),  # wider than the axis: numpy reflects repeatedly
    _pad((3, 4), ((5, 7), (9, 6)), "wrap"),
    _pad((1, 5), ((0, 0), (4, 4)), "edge"),
    _pad((1, 5), 2, "reflect"),  # a size-1 axis reflects to itself
    _pad((2, 3, 1, 4, 1, 5), 1, "edge"),  # rank 6, every axis padded
    _pad((2, 1, 3, 1, 2, 2, 3), ((0, 0), (1, 0), (0, 1), (0, 0), (0, 0), (2, 0), (0, 1)), "reflect"),  # rank 7
    _pad((17,), (16, 15), "reflect", dtype="int32"),
    _pad((3, 4, 5), ((1, 2), (0, 0), (3, 4)), "edge", dtype="int32"),
    _pad((0, 3), ((0, 0), (2, 2)), "edge"),  # empty, unpadded axis
    _pad((4, 3), ((0, 0), (0, 0)), "wrap"),  # no padding at all: a copy
]
CASES.append(Case("pad_mode", (np.arange(5, dtype=np.float32), [[2, 1]]), {"mode": "reflect"}, id="pair-for-all"))

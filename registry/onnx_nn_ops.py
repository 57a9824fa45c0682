"""The ONNX frontend, neural-network extras: LRN, ConvTranspose, Resize and Upsample.

ConvTranspose's padding attributes (pads / output_padding / output_shape / auto_pad) resolve here to the
explicit (top, left, bottom, right) padding and output_padding of `conv_transpose2d`, as onnxruntime
resolves them; 1-D ConvTranspose runs as 2-D with a unit height. Resize and Upsample become `resize2d` on
the two spatial axes of an NCHW tensor; opset < 11 semantics (asymmetric coordinates, onnxruntime's
"simple" nearest rounding) are passed as explicit modes.
"""

from __future__ import annotations

import numpy as np

from ..ops.resize import source_coords
from .graph import GraphBuilder
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op

_CONV_T = ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", "output_padding", "output_shape")
_RESIZE_11 = (
    "mode",
    "coordinate_transformation_mode",
    "nearest_mode",
    "cubic_coeff_a",
    "exclude_outside",
    "extrapolation_value",
)


def _str(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


@onnx_op(F, "LRN", 1, ("alpha", "beta", "bias", "size"))
def lrn(g: GraphBuilder, a: dict, x):
    return g.op(
        "lrn",
        x,
        int(a["size"]),
        alpha=float(a.get("alpha", 1e-4)),
        beta=float(a.get("beta", 0.75)),
        bias=float(a.get("bias", 1.0)),
    )


# ---- ConvTranspose --------------------------------------------------------------------------------------
def _transpose_pads(g: GraphBuilder, a: dict, spatial, kernel, strides, dilations, out_pad) -> list[int]:
    """[top, left, bottom, right] from pads / auto_pad / output_shape, with onnxruntime's odd-split rules."""
    auto = _str(a.get("auto_pad"), "NOTSET")
    if auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise AttributeError_(f"{g.label}: unknown auto_pad {auto!r}")
    rank = len(spatial)
    full = [
        (n - 1) * s + (k - 1) * d + 1 + p
        for n, s, k, d, p in zip(spatial, strides, kernel, dilations, out_pad, strict=True)
    ]
    if "output_shape" in a:
        target = _ints(a["output_shape"])[-rank:]
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        target = [n * s for n, s in zip(spatial, strides, strict=True)]
    else:
        pads = _ints(a.get("pads", [0] * 2 * rank)) if auto == "NOTSET" else [0] * 2 * rank
        return pads
    begin, end = [], []
    for f, t, s in zip(full, target, strides, strict=True):
        total = f - t
        if total < 0 and (auto != "NOTSET" or -total >= s):  # beyond one stride: no input size gives it
            raise AttributeError_(
                f"{g.label}: output_shape {target} is larger than the full transposed convolution {full}"
            )
        if total < 0:  # an output past the full result grows at the tail, as output_padding (onnxruntime)
            begin.append(0)
            end.append(total)
            continue
        small, big = total // 2, total - total // 2
        # onnxruntime: SAME_UPPER pads the head by the smaller half; SAME_LOWER and NOTSET by the larger one
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin + end


@onnx_op(F, "ConvTranspose", 1, _CONV_T)
def conv_transpose(g: GraphBuilder, a: dict, x, w, b=None):
    w = _const(g.label, w, "ConvTranspose weight")
    rank = len(x.shape) - 2
    if rank not in (1, 2) or np.ndim(w) != rank + 2:
        raise AttributeError_(f"{g.label}: only 1-D and 2-D ConvTranspose are supported, got input {x.shape}")
    kernel = list(np.shape(w)[2:])
    if "kernel_shape" in a and _ints(a["kernel_shape"]) != kernel:
        raise AttributeError_(f"{g.label}: kernel_shape {_ints(a['kernel_shape'])} differs from the weight's {kernel}")
    strides = _ints(a.get("strides", [1] * rank))
    dilations = _ints(a.get("dilations", [1] * rank))
    out_pad = _ints(a.get("output_padding", [0] * rank))
    pads = _transpose_pads(g, a, list(x.shape[2:]), kernel, strides, dilations, out_pad)
    if rank == 1:  # as 2-D with a unit height
        n, c, length = x.shape
        x = x.reshape((n, c, 1, length))
        w = np.asarray(w).reshape(*np.shape(w)[:2], 1, kernel[0])
        strides, dilations, out_pad = [1, *strides], [1, *dilations], [0, *out_pad]
        pads = [0, pads[0], 0, pads[1]]
    else:
        pads = [pads[0], pads[1], pads[2], pads[3]]
    # an output_shape past the full result (negative tail pads): zeros, then the bias
    grow = [max(-p, 0) for p in pads]
    pads = [max(p, 0) for p in pads]
    if any(grow) and b is not None:
        b, bias = None, b
    else:
        bias = None
    y = g.op(
        "conv_transpose2d",
        x,
        w,
        b,
        stride=tuple(strides),
        padding=tuple(pads),
        output_padding=tuple(out_pad),
        dilation=tuple(dilations),
        groups=int(a.get("group", 1)),
    )
    if any(grow):
        y = g.op("pad", y, [(0, 0), (0, 0), (grow[0], grow[2]), (grow[1], grow[3])], constant_value=0.0)
        if bias is not None:
            y = g.op("add", y, bias.reshape((bias.shape[0], 1, 1)))
    return y.reshape((y.shape[0], y.shape[1], y.shape[3])) if rank == 1 else y


# ---- Resize / Upsample ----------------------------------------------------------------------------------
def _resize(g: GraphBuilder, x, mode: str, scales=None, sizes=None, roi=None, extrapolation=0.0, **attrs):
    """resize2d on the spatial axes of an NCHW tensor; scales / sizes / roi cover all four axes. Given
    both, sizes is the output and scales the coordinate mapping (keep_aspect_ratio_policy)."""
    if len(x.shape) != 4:
        raise AttributeError_(f"{g.label}: only 4-D (NCHW) Resize is supported, got input {x.shape}")
    if mode not in ("nearest", "linear", "cubic"):
        raise AttributeError_(f"{g.label}: Resize mode {mode!r} is not supported")
    kw = dict(attrs, mode=mode)
    if sizes is not None:
        sizes = _ints(sizes)
        if len(sizes) != 4 or sizes[:2] != list(x.shape[:2]):
            raise AttributeError_(f"{g.label}: Resize sizes {sizes} must keep N and C of {x.shape}")
        kw["size"] = tuple(sizes[2:])
    if scales is not None:
        factors = [float(s) for s in np.asarray(scales, np.float32).reshape(-1)]
        if len(factors) != 4 or factors[:2] != [1.0, 1.0]:
            raise AttributeError_(f"{g.label}: Resize scales {factors} must be 4 values with 1 for N and C")
        kw["scales"] = tuple(factors[2:])
    if attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        r = [float(v) for v in np.asarray(_const(g.label, roi, "Resize roi"), np.float32).reshape(-1)]
        if len(r) != 8 or r[:2] != [0.0, 0.0] or r[4:6] != [1.0, 1.0]:
            raise AttributeError_(f"{g.label}: Resize roi {r} must be 8 values covering N and C whole")
        kw["roi"] = (r[2], r[3], r[6], r[7])
    y = g.op("resize2d", x, **kw)
    if "roi" in kw and float(extrapolation) != 0.0:
        # resize2d gives 0 where the source falls outside the input; add the extrapolation value there
        (oh, ow), (h, w) = y.shape[2:], x.shape[2:]
        outside = [
            (c < 0) | (c > n - 1)
            for c, n in (
                (source_coords(oh, h, 1, "tf_crop_and_resize", kw["roi"][0::2]), h),
                (source_coords(ow, w, 1, "tf_crop_and_resize", kw["roi"][1::2]), w),
            )
        ]
        mask = (outside[0][:, None] | outside[1][None, :]).astype(np.float32) * np.float32(extrapolation)
        y = g.op("add", y, mask)
    return y


def _given(value) -> bool:
    return value is not None and np.size(value) > 0


@onnx_op(F, "Resize", 10, ("mode",))
def resize_v10(g: GraphBuilder, a: dict, x, scales):
    scales = _const(g.label, scales, "Resize scales")
    return _resize(
        g,
        x,
        _str(a.get("mode"), "nearest"),
        scales=scales,
        coordinate_transformation_mode="asymmetric",
        nearest_mode="simple",
    )


@onnx_op(F, "Resize", 11, _RESIZE_11)
def resize(g: GraphBuilder, a: dict, x, roi=None, scales=None, sizes=None, keep_scales=None, antialias=False):
    coord = _str(a.get("coordinate_transformation_mode"), "half_pixel")
    scales = _const(g.label, scales, "Resize scales") if scales is not None else None
    sizes = _const(g.label, sizes, "Resize sizes") if sizes is not None else None
    if _given(sizes) == _given(scales):
        raise AttributeError_(f"{g.label}: Resize needs exactly one of scales and sizes")
    return _resize(
        g,
        x,
        _str(a.get("mode"), "nearest"),
        scales=scales if _given(scales) else keep_scales,
        sizes=sizes if _given(sizes) else None,
        roi=roi,
        extrapolation=float(a.get("extrapolation_value", 0.0)),
        coordinate_transformation_mode=coord,
        nearest_mode=_str(a.get("nearest_mode"), "round_prefer_floor"),
        cubic_coeff_a=float(a.get("cubic_coeff_a", -0.75)),
        exclude_outside=bool(a.get("exclude_outside", 0)),
        **({"antialias": True} if antialias else {}),
    )


@onnx_op(F, "Resize", 18, _RESIZE_11 + ("antialias", "axes", "keep_aspect_ratio_policy"))
def resize_v18(g: GraphBuilder, a: dict, x, roi=None, scales=None, sizes=None):
    rank = len(x.shape)
    axes = [ax % rank for ax in _ints(a["axes"])] if "axes" in a else list(range(rank))
    if len(set(axes)) != len(axes):
        raise AttributeError_(f"{g.label}: Resize axes {axes} repeat an axis")
    if _given(scales):
        given = [float(v) for v in np.asarray(_const(g.label, scales, "Resize scales"), np.float32).reshape(-1)]
        full = [1.0] * rank
        for ax, v in zip(axes, given, strict=True):
            full[ax] = v
        scales = np.asarray(full, np.float32)
    if _given(sizes):
        full = list(x.shape)
        for ax, v in zip(axes, _ints(_const(g.label, sizes, "Resize sizes")), strict=True):
            full[ax] = v
        sizes = np.asarray(full, np.int64)
    if _given(roi):
        given = [float(v) for v in np.asarray(_const(g.label, roi, "Resize roi"), np.float32).reshape(-1)]
        full = [0.0] * rank + [1.0] * rank
        for i, ax in enumerate(axes):
            full[ax], full[rank + ax] = given[i], given[len(axes) + i]
        roi = np.asarray(full, np.float32)
    policy = _str(a.get("keep_aspect_ratio_policy"), "stretch")
    keep = None
    if policy != "stretch" and _given(sizes):
        if policy not in ("not_larger", "not_smaller"):
            raise AttributeError_(f"{g.label}: Resize keep_aspect_ratio_policy {policy!r} is not supported")
        ratios = [sizes[ax] / x.shape[ax] for ax in axes]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        keep = np.asarray([scale if ax in axes else 1.0 for ax in range(rank)], np.float32)
        sizes = np.asarray([int(scale * x.shape[ax] + 0.5) if ax in axes else x.shape[ax] for ax in range(rank)])
    return resize(g, a, x, roi, scales, sizes, keep_scales=keep, antialias=bool(int(a.get("antialias", 0))))


def _upsample(g: GraphBuilder, a: dict, x, scales):
    return _resize(
        g,
        x,
        _str(a.get("mode"), "nearest"),
        scales=scales,
        coordinate_transformation_mode="asymmetric",
        nearest_mode="simple",
    )


onnx_op(F, "Upsample", 7, ("mode", "scales"))(lambda g, a, x: _upsample(g, a, x, a["scales"]))
onnx_op(F, "Upsample", 9, ("mode",))(
    lambda g, a, x, scales: _upsample(g, a, x, _const(g.label, scales, "Upsample scales"))
)

"""The ONNX frontend, pooling and block layouts built from existing ops: GlobalMaxPool, LpPool,
DepthToSpace and SpaceToDepth.

LpPool (1-D, 2-D) is a depthwise convolution with a ones kernel on |x|^p (so strides, pads and dilations
come from conv2d), then the 1/p power; 3-D LpPool sums its windows separably (registry/pool_nd.py). The
block layouts are a reshape, a 6-D transpose and a reshape.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder
from .onnx_nn_ops import _str
from .onnx_ops import AttributeError_, F, _ints, _need_2d, _one_d, _spatial_pads, onnx_op
from .pool_nd import pool_nd

_LP_POOL = ("kernel_shape", "strides", "pads", "auto_pad", "dilations", "p", "ceil_mode")


@onnx_op(F, "GlobalMaxPool", 1)
def global_max_pool(g: GraphBuilder, a: dict, x):
    """The max over every spatial axis, kept as unit dims: (N, C, 1, ...)."""
    if len(x.shape) < 3:
        raise AttributeError_(f"{g.label}: GlobalMaxPool needs an (N, C, spatial...) input, got {x.shape}")
    return g.op("max", x, axis=tuple(range(2, len(x.shape))), keepdims=True)


def _power(g: GraphBuilder, x, p: int):
    """x ** p for a small integer p by repeated multiplication (exact where the power kernel rounds)."""
    y = x
    for _ in range(p - 1):
        y = g.op("multiply", y, x)
    return y


@onnx_op(F, "LpPool", 2, _LP_POOL)
@_one_d
def lp_pool(g: GraphBuilder, a: dict, x):
    """(sum over the window of |x|^p) ^ (1/p), 1-D and 2-D; pads count as zeros."""
    if int(a.get("ceil_mode", 0)):
        raise AttributeError_(f"{g.label}: LpPool ceil_mode=1 is not supported")
    p = int(a.get("p", 2))
    if not 1 <= p <= 8:
        raise AttributeError_(f"{g.label}: LpPool p={p} is not supported (only 1 to 8)")
    if len(x.shape) == 5:
        return _root(g, pool_nd(g, a, _power(g, g.op("abs", x) if p % 2 else x, p), "sum"), p)
    _need_2d(g.label, x, "LpPool")
    kernel = _ints(a["kernel_shape"])
    strides, dilations = _ints(a.get("strides", [1, 1])), _ints(a.get("dilations", [1, 1]))
    pads = _spatial_pads(a, x.shape, kernel, strides, dilations)
    c = x.shape[1]
    ones = np.ones((c, 1, *kernel), np.float32)
    powered = _power(g, g.op("abs", x) if p % 2 else x, p)
    sums = g.op("conv2d", powered, ones, None, stride=tuple(strides), padding=pads, dilation=tuple(dilations), groups=c)
    return _root(g, sums, p)


def _root(g: GraphBuilder, sums, p: int):
    if p == 1:
        return sums
    if p == 2:
        return g.op("sqrt", sums)
    return g.op("power", sums, np.float32(1.0 / p))


def _block(g: GraphBuilder, a: dict, x) -> int:
    if len(x.shape) != 4:
        raise AttributeError_(f"{g.label}: only 4-D (N, C, H, W) inputs are supported, got {x.shape}")
    b = int(a["blocksize"])
    if b <= 0:
        raise AttributeError_(f"{g.label}: blocksize {b} must be positive")
    return b


def _mode(g: GraphBuilder, a: dict) -> str:
    mode = _str(a.get("mode"), "DCR")
    if mode not in ("DCR", "CRD"):
        raise AttributeError_(f"{g.label}: mode {mode!r} is not supported (DCR or CRD)")
    return mode


@onnx_op(F, "DepthToSpace", 1, ("blocksize", "mode"))
def depth_to_space(g: GraphBuilder, a: dict, x):
    b, mode = _block(g, a, x), _mode(g, a)
    n, c, h, w = x.shape
    if c % (b * b):
        raise AttributeError_(f"{g.label}: {c} channels are not a multiple of blocksize^2 = {b * b}")
    if mode == "DCR":
        y = g.op("transpose", x.reshape((n, b, b, c // (b * b), h, w)), (0, 3, 4, 1, 5, 2))
    else:
        y = g.op("transpose", x.reshape((n, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return y.reshape((n, c // (b * b), h * b, w * b))


@onnx_op(F, "SpaceToDepth", 1, ("blocksize", "mode"))
def space_to_depth(g: GraphBuilder, a: dict, x):
    b, mode = _block(g, a, x), _mode(g, a)
    n, c, h, w = x.shape
    if h % b or w % b:
        raise AttributeError_(f"{g.label}: spatial size {h}x{w} is not a multiple of blocksize {b}")
    perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    y = g.op("transpose", x.reshape((n, c, h // b, b, w // b, b)), perm)
    return y.reshape((n, c * b * b, h // b, w // b))

"""The ONNX frontend, spatial ops: GridSample, AffineGrid, CenterCropPad, Col2Im and every pooling node.

GridSample maps onto the `grid_sample` kernel. CenterCropPad is a slice then a pad; AffineGrid a matmul of
theta with a base grid built on the host; Col2Im a grouped conv_transpose2d with a one-hot weight.
MaxPool / AveragePool are registered here: 1-D and 2-D cases go to the translators of onnx_ops.py
(`max_pool2d` / `avg_pool2d`); 3-D MaxPool runs as two `max_pool2d` passes (H, W then D: max is
separable); AveragePool with dilations or on 3-D input, and LpPool, sum windows with depthwise `conv2d`
passes of a ones kernel (zero padding adds nothing) and divide by a host-built divisor (a product of
per-axis counts, as the window's valid region is a box). MaxPool's Indices output compares each window
tap with the max. GlobalMaxPool is a max reduction.
"""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder
from .onnx_ops import _POOL, AttributeError_, F, _const, _ints, onnx_op
from .onnx_ops import avg_pool as avg_pool_2d
from .onnx_ops import max_pool as max_pool_2d


def _str(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- CenterCropPad ------------------------------------------------------------------------------------
@onnx_op(F, "CenterCropPad", 18, ("axes",))
def center_crop_pad(g: GraphBuilder, a: dict, x, shape):
    """Crop (centred, the extra element at the end) or zero-pad (likewise) each listed axis to `shape`."""
    rank = len(x.shape)
    sizes = _ints(_const(g.label, shape, "CenterCropPad shape"))
    axes = [ax % rank for ax in _ints(a["axes"])] if "axes" in a else list(range(rank))
    if len(sizes) != len(axes):
        raise AttributeError_(f"{g.label}: CenterCropPad shape {sizes} does not match axes {axes}")
    starts, ends, pads = [0] * rank, list(x.shape), [(0, 0)] * rank
    for ax, size in zip(axes, sizes, strict=True):
        dim = x.shape[ax]
        if size < dim:
            starts[ax] = (dim - size) // 2
            ends[ax] = starts[ax] + size
        elif size > dim:
            pads[ax] = ((size - dim) // 2, size - dim - (size - dim) // 2)
    if starts != [0] * rank or ends != list(x.shape):
        x = g.op("slice", x, starts, ends)
    if any(p != (0, 0) for p in pads):
        x = g.op("pad", x, pads)
    return x


# ---- AffineGrid --------------------------------------------------------------------------------------
def _base_axis(n: int, align_corners: bool) -> np.ndarray:
    """The normalised sample positions along one axis, as the ONNX reference builds them."""
    if align_corners:
        return np.arange(-1, 1 + 0.0001, 2.0 / (n - 1)) if n > 1 else np.array([-1.0])
    step = 2.0 / n
    return np.arange(-1 + step / 2, 1, step)


@onnx_op(F, "AffineGrid", 20, ("align_corners",))
def affine_grid(g: GraphBuilder, a: dict, theta, size):
    """grid[n, ..., :] = theta[n] @ (x, y[, z], 1): a matmul of theta with a host-built homogeneous grid."""
    size = _ints(_const(g.label, size, "AffineGrid size"))
    spatial = size[2:]
    if len(spatial) not in (2, 3) or len(theta.shape) != 3 or theta.shape[1:] != (len(spatial), len(spatial) + 1):
        raise AttributeError_(f"{g.label}: AffineGrid needs theta (N, 2, 3) or (N, 3, 4), got {theta.shape}")
    align = bool(a.get("align_corners", 0))
    axes = [_base_axis(n, align) for n in spatial]
    if any(len(ax) != n for ax, n in zip(axes, spatial, strict=True)):
        raise AttributeError_(f"{g.label}: AffineGrid size {size} gives a degenerate base grid")
    mesh = np.meshgrid(*axes, indexing="ij")  # (D,) H, W order
    base = np.stack([*reversed(mesh), np.ones(spatial)], axis=-1).reshape(-1, len(spatial) + 1)
    grid = g.op("matmul", base.astype(np.float32), g.op("transpose", theta, (0, 2, 1)))
    return grid.reshape((theta.shape[0], *spatial, len(spatial)))


# ---- pooling -------------------------------------------------------------------------------------------
def _pool_geometry(g: GraphBuilder, a: dict, x):
    """(kernel, strides, dilations, begin pads, end pads, out sizes) of an N-D pool, ONNX rules."""
    rank = len(x.shape) - 2
    kernel = _ints(a["kernel_shape"])
    strides = _ints(a.get("strides", [1] * rank))
    dilations = _ints(a.get("dilations", [1] * rank))
    auto = _str(a.get("auto_pad"), "NOTSET")
    ceil_mode = bool(a.get("ceil_mode", 0))
    spatial = list(x.shape[2:])
    if auto in ("NOTSET", ""):
        pads = _ints(a.get("pads", [0] * 2 * rank))
        begin, end = pads[:rank], pads[rank:]
    elif auto == "VALID":
        begin, end = [0] * rank, [0] * rank
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for n, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, big = total // 2, total - total // 2
            begin.append(big if auto == "SAME_LOWER" else small)
            end.append(small if auto == "SAME_LOWER" else big)
    else:
        raise AttributeError_(f"{g.label}: unknown auto_pad {auto!r}")
    out = []
    for n, k, s, d, b, e in zip(spatial, kernel, strides, dilations, begin, end, strict=True):
        span = n + b + e - d * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + b:
            o -= 1
        if o < 1:
            raise AttributeError_(f"{g.label}: pooling window {k} (dilation {d}) is larger than the padded input {n}")
        out.append(o)
    return kernel, strides, dilations, begin, end, out


def _window_counts(n, k, s, d, b, e, o, include_pad: bool) -> np.ndarray:
    """Per output position along one axis, how many taps hit the input (or the padded input)."""
    taps = np.arange(o)[:, None] * s - b + np.arange(k)[None, :] * d
    lo, hi = (-b, n + e) if include_pad else (0, n)
    return ((taps >= lo) & (taps < hi)).sum(axis=1)


def _sum_pool(g: GraphBuilder, x, kernel, strides, dilations, begin, end, out):
    """Window sums with zero padding: depthwise conv2d passes of a ones kernel, two axes then one."""
    lead, spatial = x.shape[:2], list(x.shape[2:])
    planes = math.prod(lead)

    def pass2d(t, shape, k, s, d, b, e, o):
        # extra trailing padding so the conv covers ceil_mode's last window (zeros add nothing)
        extra = [
            max((oo - 1) * ss + (kk - 1) * dd + 1 - (nn + bb + ee), 0)
            for oo, ss, kk, dd, nn, bb, ee in zip(o, s, k, d, shape, b, e, strict=True)
        ]
        y = g.op(
            "conv2d",
            t.reshape((-1, 1, *shape)),
            np.ones((1, 1, *k), np.float32),
            None,
            stride=tuple(s),
            padding=(b[0], b[1], e[0] + extra[0], e[1] + extra[1]),
            dilation=tuple(d),
        )
        return y

    if len(spatial) == 2:
        y = pass2d(x, spatial, kernel, strides, dilations, begin, end, out)
        return y.reshape((*lead, *out))
    y = pass2d(x, spatial[1:], kernel[1:], strides[1:], dilations[1:], begin[1:], end[1:], out[1:])
    rest = math.prod(out[1:])
    y = pass2d(
        y.reshape((planes, spatial[0], rest)),
        [spatial[0], rest],
        [kernel[0], 1],
        [strides[0], 1],
        [dilations[0], 1],
        [begin[0], 0],
        [end[0], 0],
        [out[0], rest],
    )
    return y.reshape((*lead, *out))


@onnx_op(F, "AveragePool", 1, _POOL + ("count_include_pad",))
def avg_pool(g: GraphBuilder, a: dict, x):
    rank = len(x.shape) - 2
    dilations = _ints(a.get("dilations", [1] * rank))
    if rank in (1, 2) and set(dilations) == {1}:
        return avg_pool_2d(g, a, x)
    if rank not in (2, 3):
        raise AttributeError_(f"{g.label}: AveragePool on input {x.shape} is not supported (2-D and 3-D only)")
    kernel, strides, dilations, begin, end, out = _pool_geometry(g, a, x)
    include = bool(a.get("count_include_pad", 0))
    counts = [
        _window_counts(n, k, s, d, b, e, o, include)
        for n, k, s, d, b, e, o in zip(x.shape[2:], kernel, strides, dilations, begin, end, out, strict=True)
    ]
    divisor = counts[0].astype(np.float64)
    for c in counts[1:]:
        divisor = np.multiply.outer(divisor, c)
    if (divisor == 0).any():
        raise AttributeError_(f"{g.label}: AveragePool has windows made only of padding (pads {begin + end})")
    total = _sum_pool(g, x, kernel, strides, dilations, begin, end, out)
    return g.op("divide", total, divisor.astype(np.float32))


@onnx_op(F, "MaxPool", 1, _POOL)
def max_pool(g: GraphBuilder, a: dict, x):
    """2-D: max_pool2d; 3-D: max_pool2d over (H, W), then over D. storage_order only shapes the Indices
    output, which is not supported, so it is accepted when there is no such output."""
    if g.num_outputs > 1:
        return _max_pool_with_indices(g, a, x)
    if x.dtype == np.int32:  # int8 / uint8 (MaxPool's only integer types) widened: exact in float32
        return g.op("cast", max_pool(g, a, g.op("cast", x, "float32")), "int32")
    a = {k: v for k, v in a.items() if k != "storage_order"}
    rank = len(x.shape) - 2
    if rank in (1, 2):
        return max_pool_2d(g, a, x)
    if rank != 3:
        raise AttributeError_(f"{g.label}: MaxPool on input {x.shape} is not supported (1-D to 3-D only)")
    kernel, strides, dilations, begin, end, out = _pool_geometry(g, a, x)
    for i in range(3):
        if max(begin[i], end[i]) > kernel[i] // 2:
            raise AttributeError_(f"{g.label}: MaxPool pads {begin + end} exceed half the kernel {kernel}")
    n, c, depth, h, w = x.shape
    ceil_mode = bool(a.get("ceil_mode", 0))
    y = g.op(
        "max_pool2d",
        x.reshape((n * c * depth, 1, h, w)),
        tuple(kernel[1:]),
        stride=tuple(strides[1:]),
        padding=(begin[1], begin[2], end[1], end[2]),
        dilation=tuple(dilations[1:]),
        ceil_mode=ceil_mode,
    )
    rest = out[1] * out[2]
    y = g.op(
        "max_pool2d",
        y.reshape((n * c, 1, depth, rest)),
        (kernel[0], 1),
        stride=(strides[0], 1),
        padding=(begin[0], 0, end[0], 0),
        dilation=(dilations[0], 1),
        ceil_mode=ceil_mode,
    )
    return y.reshape((n, c, *out))


@onnx_op(F, "GlobalMaxPool", 1)
def global_max_pool(g: GraphBuilder, a: dict, x):
    """The max over every spatial axis, kept as size-1 dims."""
    if len(x.shape) < 3:
        raise AttributeError_(f"{g.label}: GlobalMaxPool needs an (N, C, spatial...) input, got {x.shape}")
    return g.op("max", x, axis=tuple(range(2, len(x.shape))), keepdims=True)


# ---- GridSample ----------------------------------------------------------------------------------------
_GRID_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic", "nearest": "nearest"}


@onnx_op(F, "GridSample", 16, ("align_corners", "mode", "padding_mode"))
def grid_sample(g: GraphBuilder, a: dict, x, grid):
    """grid_sample; opset 16 names the modes bilinear / bicubic, opset 20 linear / cubic."""
    mode = _str(a.get("mode"), "linear")
    if mode not in _GRID_MODES:
        raise AttributeError_(f"{g.label}: GridSample mode {mode!r} is not supported")
    padding = _str(a.get("padding_mode"), "zeros")
    if padding not in ("zeros", "border", "reflection"):
        raise AttributeError_(f"{g.label}: GridSample padding_mode {padding!r} is not supported")
    if len(x.shape) not in (4, 5) or (len(x.shape) == 5 and _GRID_MODES[mode] == "cubic"):
        raise AttributeError_(
            f"{g.label}: GridSample {mode} on input {x.shape} is not supported (4-D, or 5-D with nearest / linear)"
        )
    return g.op(
        "grid_sample",
        x,
        grid,
        mode=_GRID_MODES[mode],
        padding_mode=padding,
        align_corners=bool(a.get("align_corners", 0)),
    )


# ---- Col2Im --------------------------------------------------------------------------------------------
def _one_hot_weight(rows: int, block: list[int]) -> np.ndarray:
    """(rows, 1, *block): row r is one at offset r % prod(block) of the block (row-major)."""
    k = math.prod(block)
    weight = np.zeros((rows, 1, k), np.float32)
    weight[np.arange(rows), 0, np.arange(rows) % k] = 1
    return weight.reshape(rows, 1, *block)


def _scatter_blocks(g: GraphBuilder, x, blocks, image, block, strides, dilations, begin, end, groups):
    """conv_transpose2d of (B, groups * prod(block), *blocks) with the one-hot weight: (B, groups, *image)."""
    full = [(b - 1) * s + d * (k - 1) + 1 for b, s, d, k in zip(blocks, strides, dilations, block, strict=True)]
    return g.op(
        "conv_transpose2d",
        x.reshape((x.shape[0], -1, *blocks)),
        _one_hot_weight(x.shape[1], block),
        None,
        stride=tuple(strides),
        padding=(*begin, *end),
        output_padding=tuple(n - (f - b - e) for n, f, b, e in zip(image, full, begin, end, strict=True)),
        dilation=tuple(dilations),
        groups=groups,
    )


@onnx_op(F, "Col2Im", 18, ("dilations", "pads", "strides"))
def col2im(g: GraphBuilder, a: dict, x, image_shape, block_shape):
    """Sum the columns' blocks back into the image: a grouped conv_transpose2d whose weight is one-hot
    (column row c*kh*kw + i*kw + j lands at offset (i, j) of channel c). 3-D: the (H, W) pass per depth
    tap and block, then a second one-hot pass along D."""
    image = _ints(_const(g.label, image_shape, "Col2Im image_shape"))
    block = _ints(_const(g.label, block_shape, "Col2Im block_shape"))
    rank = len(image)
    if rank not in (2, 3) or len(block) != rank:
        raise AttributeError_(f"{g.label}: only 2-D and 3-D Col2Im are supported, got image_shape {image}")
    strides = _ints(a.get("strides", [1] * rank))
    dilations = _ints(a.get("dilations", [1] * rank))
    pads = _ints(a.get("pads", [0] * 2 * rank))
    begin, end = pads[:rank], pads[rank:]
    k = math.prod(block)
    n, ck, length = x.shape
    if ck % k:
        raise AttributeError_(f"{g.label}: Col2Im input has {ck} rows, not a multiple of the block size {k}")
    blocks = [
        (size + begin[i] + end[i] - dilations[i] * (block[i] - 1) - 1) // strides[i] + 1 for i, size in enumerate(image)
    ]
    if min(blocks) < 1 or math.prod(blocks) != length:
        raise AttributeError_(f"{g.label}: Col2Im input has {length} blocks, the geometry gives {blocks}")
    c = ck // k
    if rank == 2:
        return _scatter_blocks(g, x, blocks, image, block, strides, dilations, begin, end, c)
    # (N*C, KD, KH*KW, LD, LH*LW) -> (N*C*KD*LD, KH*KW, LH, LW): a 2-D col2im per depth tap and block row
    khw, lhw = block[1] * block[2], blocks[1] * blocks[2]
    t = g.op("transpose", x.reshape((n * c, block[0], khw, blocks[0], lhw)), (0, 1, 3, 2, 4))
    planes = _scatter_blocks(
        g,
        t.reshape((-1, khw, lhw)),
        blocks[1:],
        image[1:],
        block[1:],
        strides[1:],
        dilations[1:],
        begin[1:],
        end[1:],
        1,
    )
    hw = image[1] * image[2]
    depth = _scatter_blocks(
        g,
        planes.reshape((n * c, block[0], blocks[0], hw)),
        [blocks[0], hw],
        [image[0], hw],
        [block[0], 1],
        [strides[0], 1],
        [dilations[0], 1],
        [begin[0], 0],
        [end[0], 0],
        1,
    )
    return depth.reshape((n, c, *image))


@onnx_op(F, "LpPool", 11, ("auto_pad", "kernel_shape", "p", "pads", "strides", "ceil_mode", "dilations"))
def lp_pool(g: GraphBuilder, a: dict, x):
    """(sum over the window of |x|^p)^(1/p): the window sums of |x|^p (zero padding adds nothing)."""
    rank = len(x.shape) - 2
    if rank == 1:  # as 2-D with a unit height
        a = dict(a)
        for key in ("kernel_shape", "strides", "dilations"):
            if key in a:
                a[key] = [1, *_ints(a[key])]
        if "pads" in a:
            pads = _ints(a["pads"])
            a["pads"] = [0, pads[0], 0, pads[1]]
        y = lp_pool(g, a, x.reshape((x.shape[0], x.shape[1], 1, x.shape[2])))
        return y.reshape((y.shape[0], y.shape[1], y.shape[3]))
    if rank not in (2, 3):
        raise AttributeError_(f"{g.label}: LpPool on input {x.shape} is not supported (1-D to 3-D only)")
    p = float(a.get("p", 2))
    if p <= 0:
        raise AttributeError_(f"{g.label}: LpPool p={p} is not supported (p > 0)")
    kernel, strides, dilations, begin, end, out = _pool_geometry(g, a, x)
    powered = g.op("multiply", x, x) if p == 2 else g.op("power", g.op("abs", x), np.float32(p))
    total = _sum_pool(g, powered, kernel, strides, dilations, begin, end, out)
    return g.op("sqrt", total) if p == 2 else g.op("power", total, np.float32(1 / p))


def _max_pool_with_indices(g: GraphBuilder, a: dict, x):
    """MaxPool's (Y, Indices) on 4-D input: Y from max_pool2d; Indices by comparing each window tap (a
    strided slice of the -inf padded input) with Y, the first tap in window order winning, as onnxruntime.
    Indices are flat over (N, C, H, W) (storage_order=1: W before H within a plane)."""
    if len(x.shape) != 4 or x.dtype != np.float32:
        raise AttributeError_(f"{g.label}: MaxPool Indices are supported on 4-D float input only, got {x.shape}")
    kernel, strides, dilations, begin, end, out = _pool_geometry(g, a, x)
    for i in range(2):
        if max(begin[i], end[i]) > kernel[i] // 2:
            raise AttributeError_(f"{g.label}: MaxPool Indices need pads at most half the kernel {kernel}")
    plain = {k: v for k, v in a.items() if k != "storage_order"}
    y = max_pool_2d(g, plain, x)
    n, c, h, w = x.shape
    need = [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(out, strides, kernel, dilations, strict=True)]
    after = [max(need[i] - (x.shape[2 + i] + begin[i]), 0) for i in range(2)]
    padded = g.op("pad", x, [(0, 0), (0, 0), (begin[0], after[0]), (begin[1], after[1])], float("-inf"))
    column_major = bool(int(a.get("storage_order", 0)))
    plane = (np.arange(n * c) * h * w).reshape(n, c, 1, 1)
    taps = [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]
    idx = np.zeros((n, c, *out), np.int32)
    for i, j in reversed(taps):  # the first tap that equals the max wins
        rows = np.arange(out[0]) * strides[0] - begin[0] + i * dilations[0]
        cols = np.arange(out[1]) * strides[1] - begin[1] + j * dilations[1]
        flat = cols[None, :] * h + rows[:, None] if column_major else rows[:, None] * w + cols[None, :]
        starts = [i * dilations[0], j * dilations[1]]
        ends = [starts[0] + (out[0] - 1) * strides[0] + 1, starts[1] + (out[1] - 1) * strides[1] + 1]
        tap = g.op("slice", padded, starts, ends, [2, 3], strides)
        idx = g.op("where", g.op("equal", tap, y), (plane + flat).astype(np.int32), idx)
    return [y, idx]

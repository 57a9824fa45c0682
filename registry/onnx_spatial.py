"""The ONNX frontend, spatial ops: GridSample, AffineGrid, CenterCropPad and Col2Im.

GridSample maps onto the `grid_sample` kernel. CenterCropPad is a slice then a pad; AffineGrid a matmul of
theta with a base grid built on the host; Col2Im a grouped conv_transpose2d with a one-hot weight (3-D:
one pass over (H, W), then one along D).
"""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op


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


# ---- MaxUnpool -----------------------------------------------------------------------------------------
@onnx_op(F, "MaxUnpool", 9, ("kernel_shape", "pads", "strides"))
def max_unpool(g: GraphBuilder, a: dict, x, indices, output_shape=None):
    """Zeros with x written at its flat (N, C, spatial...) indices: a scatter_elements along one flat axis
    (the kernel refuses indices outside the output). The indices address the default output shape; a larger
    output_shape pads it with zeros at the end of each spatial axis (the conformance suite's reading)."""
    rank = len(x.shape) - 2
    kernel = _ints(a["kernel_shape"])
    strides = _ints(a.get("strides", [1] * rank))
    pads = _ints(a.get("pads", [0] * 2 * rank))
    spatial = [
        (n - 1) * s - pads[i] - pads[i + rank] + k
        for i, (n, s, k) in enumerate(zip(x.shape[2:], strides, kernel, strict=True))
    ]
    shape = [*x.shape[:2], *spatial]
    target = shape
    if output_shape is not None:
        target = _ints(_const(g.label, output_shape, "MaxUnpool output_shape"))
        if len(target) != rank + 2 or target[:2] != shape[:2] or any(t < d for t, d in zip(target, shape, strict=True)):
            raise AttributeError_(
                f"{g.label}: MaxUnpool output_shape {target} must keep N and C and not shrink the default {shape}"
            )
    if tuple(indices.shape) != tuple(x.shape):
        raise AttributeError_(f"{g.label}: MaxUnpool indices {indices.shape} must have the shape of X {x.shape}")
    zeros = np.zeros((1, math.prod(shape)), np.float32)
    flat = g.op("scatter_elements", zeros, indices.reshape((1, -1)), x.reshape((1, -1)), axis=1)
    y = flat.reshape(tuple(shape))
    if target != shape:
        y = g.op("pad", y, [(0, t - d) for t, d in zip(target, shape, strict=True)])
    return y

"""Separable N-D max / average pooling for ONNX MaxPool / AveragePool: 3-D spatial inputs (N, C, D, H, W),
and 2-D ones whose pads or dilations the 2-D kernels do not take.

A box window is separable: the max (or sum) over a D x H x W window is that over D of that over H of that
over W. Each axis is one pass: pad it (with -inf for max, 0 for sums), then combine `kernel` strided slices.
The average divides by a constant grid, the product of per-axis counts of positions that are not padding
(or of padded positions when count_include_pad). ceil_mode's extra end windows see only padding.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder


class PoolingError(ValueError):
    """A pooling attribute value this path does not support."""


def _pads(g: GraphBuilder, a: dict, spatial, kernel, strides, dilations) -> tuple[list[int], list[int]]:
    rank = len(spatial)
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        pads = [int(p) for p in a.get("pads", [0] * 2 * rank)]
        return pads[:rank], pads[rank:]
    if auto == "VALID":
        return [0] * rank, [0] * rank
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise PoolingError(f"{g.label}: unknown auto_pad {auto!r}")
    begin, end = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(big if auto == "SAME_LOWER" else small)
        end.append(small if auto == "SAME_LOWER" else big)
    return begin, end


def _counts(size: int, out: int, k: int, s: int, d: int, pb: int) -> np.ndarray:
    """How many of each window's taps fall inside the unpadded axis."""
    taps = np.arange(out)[:, None] * s + np.arange(k)[None, :] * d - pb
    return ((taps >= 0) & (taps < size)).sum(1)


def pool_nd(g: GraphBuilder, a: dict, x, kind: str):
    """kind 'max', 'avg' or 'sum' (LpPool's window sums); x: (N, C, spatial...).

    Raises PoolingError for what it does not handle.
    """
    rank = len(x.shape) - 2
    ceil = bool(int(a.get("ceil_mode", 0)))
    if int(a.get("storage_order", 0)):
        raise PoolingError(f"{g.label}: storage_order=1 is not supported")
    kernel = [int(k) for k in a["kernel_shape"]]
    strides = [int(s) for s in a.get("strides", [1] * rank)]
    dilations = [int(d) for d in a.get("dilations", [1] * rank)]
    if not len(kernel) == len(strides) == len(dilations) == rank or min(kernel + strides + dilations) < 1:
        raise PoolingError(f"{g.label}: kernel_shape / strides / dilations do not describe {rank}-D pooling")
    begin, end = _pads(g, a, x.shape[2:], kernel, strides, dilations)
    fill = -np.inf if kind == "max" else 0.0
    combine = "maximum" if kind == "max" else "add"
    include_pad = bool(int(a.get("count_include_pad", 0)))
    divisor = np.ones((1,) * rank, np.float32)
    y = x
    for i, (k, s, d, pb, pe) in enumerate(zip(kernel, strides, dilations, begin, end, strict=True)):
        axis, size, span = i + 2, x.shape[i + 2], (k - 1) * d + 1
        if pb < 0 or pe < 0 or max(pb, pe) >= span:
            raise PoolingError(f"{g.label}: pads ({pb}, {pe}) on spatial axis {i} must be >= 0 and below the window")
        out = (size + pb + pe - span) // s + 1
        if ceil:  # ONNX: round up, but no window may start in the end padding
            out = -(-(size + pb + pe - span) // s) + 1
            out -= (out - 1) * s >= size + pb
        if out < 1:
            raise PoolingError(f"{g.label}: the window is larger than the padded input along spatial axis {i}")
        overhang = max((out - 1) * s + span - (size + pb + pe), 0)  # ceil_mode's windows past the end padding
        if overhang // 2:  # the ONNX reference then shifts every window by overhang // 2: not followed here
            raise PoolingError(f"{g.label}: ceil_mode with a window {overhang} past the end is not supported")
        if pb or pe or overhang:
            width = [(0, 0)] * len(x.shape)
            width[axis] = (pb, pe + overhang)
            y = g.op("pad", y, width, constant_value=fill)
        acc = None
        for t in range(k):
            tap = g.op("slice", y, [t * d], [t * d + (out - 1) * s + 1], axes=[axis], steps=[s])
            acc = tap if acc is None else g.op(combine, acc, tap)
        y = acc
        # taps counted by the average: inside the axis, or inside the padded axis (never the overhang)
        counts = _counts(size + pb + pe, out, k, s, d, 0) if include_pad else _counts(size, out, k, s, d, pb)
        if counts.min() == 0:
            raise PoolingError(f"{g.label}: a window on spatial axis {i} holds no input element")
        shape = [1] * rank
        shape[i] = out
        divisor = divisor * counts.reshape(shape).astype(np.float32)
    if kind != "avg":
        return y
    return g.op("divide", y, divisor)


def max_pool_with_indices(g: GraphBuilder, a: dict, x) -> list:
    """2-D MaxPool's [Y, Indices]: the taps of the window one by one, keeping the first strict maximum.

    Indices are flat positions in x (row-major, or with H and W swapped for storage_order=1), as int32;
    a tap that falls in the padding never wins, and the first real tap of a window always counts.
    """
    if len(x.shape) != 4:
        raise PoolingError(f"{g.label}: MaxPool's Indices output is supported for 1-D and 2-D pooling only")
    if int(a.get("ceil_mode", 0)):
        raise PoolingError(f"{g.label}: MaxPool's Indices output with ceil_mode=1 is not supported")
    order = int(a.get("storage_order", 0))
    if order not in (0, 1):
        raise PoolingError(f"{g.label}: storage_order {order} is not supported")
    if np.prod(x.shape, dtype=np.int64) >= 2**31:
        raise PoolingError(f"{g.label}: input {x.shape} is too large for int32 indices")
    kernel = [int(k) for k in a["kernel_shape"]]
    strides = [int(s) for s in a.get("strides", [1, 1])]
    dilations = [int(d) for d in a.get("dilations", [1, 1])]
    begin, end = _pads(g, a, x.shape[2:], kernel, strides, dilations)
    n, c, h, w = x.shape
    outs = [
        (size + pb + pe - (k - 1) * d - 1) // s + 1
        for size, pb, pe, k, d, s in zip((h, w), begin, end, kernel, dilations, strides, strict=True)
    ]
    if min(outs) < 1 or min(begin + end) < 0:
        raise PoolingError(f"{g.label}: pads {begin + end} do not fit the window on input {x.shape}")
    xp = x
    if any(begin + end):
        xp = g.op("pad", x, [(0, 0), (0, 0), (begin[0], end[0]), (begin[1], end[1])], constant_value=-np.inf)
    acc = idx = None
    seen = np.zeros(outs, bool)
    for th in range(kernel[0]):
        for tw in range(kernel[1]):
            rows = np.arange(outs[0]) * strides[0] + th * dilations[0] - begin[0]
            cols = np.arange(outs[1]) * strides[1] + tw * dilations[1] - begin[1]
            valid = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
            if not valid.any():
                continue
            grid = rows[:, None] * w + cols[None, :] if order == 0 else rows[:, None] + cols[None, :] * h
            grid = np.where(valid, grid, -1).astype(np.int32)
            starts = [th * dilations[0], tw * dilations[1]]
            stops = [s + (o - 1) * st + 1 for s, o, st in zip(starts, outs, strides, strict=True)]
            tap = g.op("slice", xp, starts, stops, axes=[2, 3], steps=strides)
            if acc is None:  # the first tap in the window order that is real anywhere; elsewhere -inf
                acc, idx = tap, grid
            else:
                always, maybe = valid & ~seen, valid & seen
                take = g.op("greater", tap, acc)
                if not maybe.all():  # strict max where a real tap was seen; unconditionally at the first real tap
                    score = g.op(
                        "multiply", g.op("where", take, np.float32(1), np.float32(0)), maybe.astype(np.float32)
                    )
                    take = g.op("greater", g.op("maximum", score, always.astype(np.float32)), np.float32(0.5))
                acc = g.op("where", take, tap, acc)
                idx = g.op("where", take, grid, idx)
            seen |= valid
    offsets = (np.arange(n * c, dtype=np.int32) * (h * w)).reshape(n, c, 1, 1)
    return [acc, g.op("add", idx, offsets)]

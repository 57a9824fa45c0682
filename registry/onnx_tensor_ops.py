"""The ONNX frontend, part three: Erf, Where, Expand, Gather, Slice, Split, comparisons and Not.

When every input is a constant the translators fold with numpy in the inputs' own dtypes (int64 shape
arithmetic stays int64); otherwise they call the wasmops ops take / slice / broadcast_to / where /
equal / less / ... . Constants that meet graph tensors are narrowed to the library's dtypes first
(int64 -> int32, float64 -> float32), as the session narrows int64 inputs.
"""

from __future__ import annotations

import numpy as np

from .dtypes import narrow_constant as _narrow
from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op


@onnx_op(F, "Erf", 9)
def erf(g: GraphBuilder, a: dict, x):
    return g.op("erf", x)


@onnx_op(F, "Where", 9)
def where(g: GraphBuilder, a: dict, cond, x, y):
    if is_const(cond) and is_const(x) and is_const(y):
        return np.where(np.asarray(cond), np.asarray(x), np.asarray(y))
    return g.op("where", _narrow(cond), _narrow(x), _narrow(y))


@onnx_op(F, "Expand", 8)
def expand(g: GraphBuilder, a: dict, x, shape):
    """Broadcast x against `shape` (which itself may have 1s where x is larger): numpy broadcast_shapes."""
    target = tuple(_ints(_const(g.label, shape, "Expand shape")))
    out = tuple(int(d) for d in np.broadcast_shapes(tuple(x.shape), target))
    if is_const(x):
        return np.broadcast_to(np.asarray(x), out).copy()
    if out == tuple(x.shape):
        return x
    return g.op("broadcast_to", x, out)


@onnx_op(F, "Gather", 1, ("axis",))
def gather(g: GraphBuilder, a: dict, data, indices):
    """Gather = take; negative indices wrap, out-of-range ones raise (see ops/take.py)."""
    axis = int(a.get("axis", 0))
    if is_const(data) and is_const(indices):
        return np.asarray(np.take(np.asarray(data), np.asarray(indices, np.int64), axis=axis))
    return g.op("take", _narrow(data), _narrow(indices), axis=axis)


# ---- Slice ---------------------------------------------------------------------------------------------
@onnx_op(F, "Slice", 1, ("starts", "ends", "axes"))
def slice_v1(g: GraphBuilder, a: dict, x):
    axes = _ints(a["axes"]) if "axes" in a else None
    return g.op("slice", x, _ints(a["starts"]), _ints(a["ends"]), axes=axes)


@onnx_op(F, "Slice", 10)
def slice_v10(g: GraphBuilder, a: dict, x, starts, ends, axes=None, steps=None):
    """starts / ends / axes / steps must be constants; a constant x folds in its own dtype."""
    starts = _ints(_const(g.label, starts, "Slice starts"))
    ends = _ints(_const(g.label, ends, "Slice ends"))
    axes = None if axes is None else _ints(_const(g.label, axes, "Slice axes"))
    steps = None if steps is None else _ints(_const(g.label, steps, "Slice steps"))
    return g.op("slice", x, starts, ends, axes=axes, steps=steps)


# ---- Split: one slice per output ------------------------------------------------------------------------
def _split(g: GraphBuilder, x, axis: int, sizes: list[int] | None, num_outputs: int | None) -> list:
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise AttributeError_(f"{g.label}: Split axis {axis} is out of range for rank {rank}")
    axis %= rank
    dim = x.shape[axis]
    if sizes is None:
        if num_outputs is None:
            raise AttributeError_(
                f"{g.label}: Split without `split` sizes (an equal split into as many parts as the node has "
                "outputs) is not supported; give the sizes"
            )
        chunk = -(-dim // num_outputs)  # opset 18: equal parts, the last one smaller
        sizes = [chunk] * (num_outputs - 1) + [dim - chunk * (num_outputs - 1)]
    if any(s < 0 for s in sizes) or sum(sizes) != dim:
        raise AttributeError_(f"{g.label}: Split sizes {sizes} do not add up to {dim}, the size of axis {axis}")
    outs, start = [], 0
    for size in sizes:
        outs.append(g.op("slice", x, [start], [start + size], axes=[axis]))
        start += size
    return outs


@onnx_op(F, "Split", 1, ("axis", "split"))
def split_v1(g: GraphBuilder, a: dict, x, split=None):
    if split is not None:
        sizes = _ints(_const(g.label, split, "Split split"))
    else:
        sizes = _ints(a["split"]) if "split" in a else None
    return _split(g, x, int(a.get("axis", 0)), sizes, g.num_outputs)


@onnx_op(F, "Split", 13, ("axis",))
def split_v13(g: GraphBuilder, a: dict, x, split=None):
    sizes = None if split is None else _ints(_const(g.label, split, "Split split"))
    return _split(g, x, int(a.get("axis", 0)), sizes, g.num_outputs)


@onnx_op(F, "Split", 18, ("axis", "num_outputs"))
def split_v18(g: GraphBuilder, a: dict, x, split=None):
    sizes = None if split is None else _ints(_const(g.label, split, "Split split"))
    num = int(a["num_outputs"]) if "num_outputs" in a else None
    return _split(g, x, int(a.get("axis", 0)), sizes, num)


# ---- comparisons and Not -------------------------------------------------------------------------------
def _compare(onnx_name: str, op_name: str, fold, since: int = 1):
    def translate(g: GraphBuilder, a: dict, x, y):
        if a.get("broadcast", 0) and "axis" in a and len(y.shape) < len(x.shape):  # opset < 7 broadcasting
            axis = int(a["axis"]) % len(x.shape)
            y = y.reshape(tuple(y.shape) + (1,) * (len(x.shape) - axis - len(y.shape)))
        if is_const(x) and is_const(y):
            return np.asarray(fold(np.asarray(x), np.asarray(y)))
        x, y = _narrow(x), _narrow(y)
        if np.dtype(x.dtype) == np.bool_ or np.dtype(y.dtype) == np.bool_:
            raise AttributeError_(f"{g.label}: {onnx_name} on bool tensors is not supported")
        return g.op(op_name, x, y)

    onnx_op(F, onnx_name, since, ("broadcast", "axis"))(translate)


for _onnx, _op, _fold, _since in [
    ("Equal", "equal", np.equal, 1),
    ("Less", "less", np.less, 1),
    ("Greater", "greater", np.greater, 1),
    ("LessOrEqual", "less_equal", np.less_equal, 12),
    ("GreaterOrEqual", "greater_equal", np.greater_equal, 12),
]:
    _compare(_onnx, _op, _fold, _since)


@onnx_op(F, "Not", 1)
def logical_not(g: GraphBuilder, a: dict, x):
    if is_const(x):
        return np.asarray(np.logical_not(np.asarray(x)))
    return g.op("logical_not", x)

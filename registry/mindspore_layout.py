"""The MindSpore frontend, continued: layout, indexing, no-op and tuple-output primitives.

Primitives that return a tuple (ops.LayerNorm's (y, mean, rstd), ops.BatchNorm's five outputs, ops.Unstack,
ops.Split) give back a tuple whose entries wasm does not compute are None: a graph that reads one of those
fails by name (bindings/mindspore_graph.py), it is never given a wrong tensor. A cell-level conversion,
whose Custom op has one output, keeps them native (TUPLE_OUTPUT).
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder
from .mindspore_ops import _const, _ints, ms_op

TUPLE_OUTPUT = {"ops.LayerNorm", "ops.BatchNorm", "ops.Unstack", "ops.Split", "ops.Dropout", "ops.ArgMaxWithValue"}


def _tuple_check(a: dict) -> str | None:
    return "returns a tuple: it runs on wasm when its cell is compiled whole (to_wasm(..., inputs=...))"


def _identity(g: GraphBuilder, a: dict, x):
    """no-op: the value itself (inference)"""
    return x


ms_op("nn.Identity")(_identity)


def _dropout_check(a: dict) -> str | None:
    return "in training mode; call net.set_train(False) for inference" if a.get("training") else None


ms_op("nn.Dropout", ("training",), _dropout_check)(_identity)


@ms_op("ops.Dropout", ("keep_prob",), _tuple_check)
def dropout_prim(g: GraphBuilder, a: dict, x, *_):
    """(x, mask): a no-op at inference (the mask is not computed)"""
    return (x, None)


@ms_op("ops.LayerNorm", ("begin_norm_axis", "begin_params_axis", "epsilon"), _tuple_check)
def layer_norm_prim(g: GraphBuilder, a: dict, x, gamma, beta, *rest):
    """(y, mean, rstd), with MindSpore's defaults begin_norm_axis=1, begin_params_axis=1, epsilon=1e-7"""
    rank = len(x.shape)
    norm_axis = int(a.get("begin_norm_axis", 1)) % rank
    params_axis = int(a.get("begin_params_axis", 1)) % rank
    eps = float(a.get("epsilon", 1e-7))
    shape = tuple(x.shape[params_axis:])
    if norm_axis == params_axis:
        y = g.op("layer_norm", x, np.reshape(gamma, shape), np.reshape(beta, shape), axis=norm_axis, epsilon=eps)
    else:
        y = g.op("layer_norm", x, axis=norm_axis, epsilon=eps)
        y = g.op("add", g.op("multiply", y, np.reshape(gamma, shape)), np.reshape(beta, shape))
    return (y, None, None)


@ms_op("ops.BatchNorm", ("is_training", "epsilon", "data_format"), _tuple_check)
def batch_norm_prim(g: GraphBuilder, a: dict, x, scale, bias, mean, variance, *rest):
    """(y, ...): inference batch norm with the moving statistics (is_training=False)"""
    if a.get("is_training"):
        raise ValueError("BatchNorm with is_training=True (batch statistics) is not supported; use set_train(False)")
    if a.get("data_format") not in (None, "NCHW", 0):
        raise ValueError(f"BatchNorm data_format={a.get('data_format')!r} is not supported (NCHW only)")
    y = g.op("batch_norm", x, scale, bias, mean, variance, epsilon=float(a.get("epsilon", 1e-5)))
    return (y, None, None, None, None)


@ms_op("ops.Unstack", ("axis", "num"), _tuple_check)
def unstack_prim(g: GraphBuilder, a: dict, x):
    """one slice per index along axis, the axis removed"""
    axis = int(a.get("axis", 0)) % len(x.shape)
    out_shape = x.shape[:axis] + x.shape[axis + 1 :]
    return tuple(g.op("slice", x, [i], [i + 1], [axis]).reshape(out_shape) for i in range(x.shape[axis]))


@ms_op("ops.Split", ("axis", "output_num"), _tuple_check)
def split_prim(g: GraphBuilder, a: dict, x):
    """output_num equal parts along axis"""
    axis = int(a.get("axis", 0)) % len(x.shape)
    n = int(a.get("output_num", 1))
    if x.shape[axis] % n:
        raise ValueError(f"Split: dim {x.shape[axis]} does not divide into {n} equal parts")
    step = x.shape[axis] // n
    return tuple(g.op("slice", x, [i * step], [(i + 1) * step], [axis]) for i in range(n))


def _pairs(paddings) -> list[tuple[int, int]]:
    return [(int(b), int(e)) for b, e in np.asarray(paddings).reshape(-1, 2)]


@ms_op("ops.Pad", ("paddings",))
def pad_prim(g: GraphBuilder, a: dict, x):
    """zero padding, ((before, after) per dim)"""
    return g.op("pad", x, _pairs(a["paddings"]))


def _nn_pad_check(a: dict) -> str | None:
    mode = str(a.get("mode", "CONSTANT")).upper()
    return None if mode in ("CONSTANT", "REFLECT") else f"mode={mode!r} is not supported (CONSTANT, REFLECT)"


@ms_op("nn.Pad", ("paddings", "mode"), _nn_pad_check)
def pad_cell(g: GraphBuilder, a: dict, x):
    """constant (zero) or reflect padding, ((before, after) per dim) from the first dim"""
    pads = _pairs(a["paddings"])
    pads = [(0, 0)] * (len(x.shape) - len(pads)) + pads
    if str(a.get("mode", "CONSTANT")).upper() == "REFLECT":
        return g.op("pad_mode", x, pads, mode="reflect")
    return g.op("pad", x, pads)


def _last_first_pairs(pads, rank: int) -> list[tuple[int, int]]:
    """ops.pad order: (left, right) of the last dim first, then the dim before, ..."""
    flat = _ints(pads)
    out = [(0, 0)] * rank
    for i in range(len(flat) // 2):
        out[rank - 1 - i] = (flat[2 * i], flat[2 * i + 1])
    return out


@ms_op("ops.PadV3", ("mode", "paddings_contiguous"))
def pad_v3_prim(g: GraphBuilder, a: dict, x, paddings, value=0):
    """ops.pad: constant or reflect padding, pads given last dim first (negative pads are refused)"""
    pads = _last_first_pairs(_const(g, paddings, "pad paddings"), len(x.shape))
    if any(b < 0 or e < 0 for b, e in pads):
        raise ValueError(f"negative pads {pads} are not supported")
    mode = str(a.get("mode", "constant")).lower()
    if mode == "reflect":
        return g.op("pad_mode", x, pads, mode="reflect")
    if mode != "constant":
        raise ValueError(f"pad mode {mode!r} is not supported")
    return g.op("pad", x, pads, constant_value=float(np.asarray(value if value is not None else 0)))


@ms_op("ops.ConstantPadND")
def constant_pad_nd_prim(g: GraphBuilder, a: dict, x, padding, value=0):
    """mint-style constant pad, pads given last dim first"""
    pads = _last_first_pairs(_const(g, padding, "pad padding"), len(x.shape))
    if any(b < 0 or e < 0 for b, e in pads):
        raise ValueError(f"negative pads {pads} are not supported")
    return g.op("pad", x, pads, constant_value=float(np.asarray(value if value is not None else 0)))


@ms_op("ops.LpNorm", ("axis", "p", "keep_dims", "epsilon"))
def lp_norm_prim(g: GraphBuilder, a: dict, x):
    """(sum |x|^p over axis) ^ (1/p); MindSpore's defaults axis=(), p=2, keep_dims=False"""
    axes = _ints(a.get("axis", ()))
    keep = bool(a.get("keep_dims", False))
    p = int(a.get("p", 2))
    if p == 1:
        return g.op("sum", g.op("abs", x), axis=axes or None, keepdims=keep)
    if p != 2:
        raise ValueError(f"LpNorm p={p} is not supported (1 or 2)")
    return g.op("sqrt", g.op("sum", g.op("multiply", x, x), axis=axes or None, keepdims=keep))


@ms_op("ops.StridedSlice", ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))
def strided_slice_prim(g: GraphBuilder, a: dict, x, begin, end, strides):
    """x[begin:end:strides] with begin / end masks and shrink_axis_mask (no ellipsis or new axes)"""
    if int(a.get("ellipsis_mask", 0)) or int(a.get("new_axis_mask", 0)):
        raise ValueError("StridedSlice with ellipsis_mask or new_axis_mask is not supported")
    b, e, s = (list(_ints(_const(g, v, "StridedSlice bounds"))) for v in (begin, end, strides))
    bm, em, shrink = int(a.get("begin_mask", 0)), int(a.get("end_mask", 0)), int(a.get("shrink_axis_mask", 0))
    big = 2**31 - 1
    for i in range(len(b)):
        if bm >> i & 1:
            b[i] = -big if s[i] > 0 else big
        if em >> i & 1:
            e[i] = big if s[i] > 0 else -big
        if shrink >> i & 1:
            e[i], s[i] = b[i] + 1 if b[i] != -1 else big, 1
    y = g.op("slice", x, b, e, list(range(len(b))), s)
    if shrink:
        y = g.op("reshape", y, tuple(d for i, d in enumerate(y.shape) if not (i < len(b) and shrink >> i & 1)))
    return y


@ms_op("ops.Squeeze", ("axis",))
def squeeze_prim(g: GraphBuilder, a: dict, x):
    """drop the given unit dims (all unit dims by default)"""
    axes = {ax % len(x.shape) for ax in _ints(a.get("axis", ()))}
    shape = tuple(d for i, d in enumerate(x.shape) if not (d == 1 and (not axes or i in axes)))
    return g.op("reshape", x, shape)


@ms_op("ops.ExpandDims")
def expand_dims_prim(g: GraphBuilder, a: dict, x, axis):
    """a unit dim inserted at axis"""
    ax = int(np.asarray(_const(g, axis, "ExpandDims axis")))
    shape = list(x.shape)
    shape.insert(ax % (len(shape) + 1), 1)
    return g.op("reshape", x, tuple(shape))


@ms_op("ops.Gather", ("batch_dims",))
def gather_prim(g: GraphBuilder, a: dict, x, indices, axis=0):
    """x.take(indices, axis) (batch_dims=0)"""
    if int(a.get("batch_dims", 0)):
        raise ValueError("Gather with batch_dims is not supported")
    return g.op("take", x, indices, axis=int(np.asarray(_const(g, axis, "Gather axis"))))


@ms_op("ops.BroadcastTo", ("shape",))
def broadcast_to_prim(g: GraphBuilder, a: dict, x, shape=None):
    """x broadcast to shape (-1 keeps a dim)"""
    target = _ints(_const(g, shape if shape is not None else a["shape"], "BroadcastTo shape"))
    lead = len(target) - len(x.shape)
    full = tuple(x.shape[i - lead] if t == -1 else t for i, t in enumerate(target))
    return g.op("broadcast_to", x, full)


for _name in ("ops.Contiguous", "ops.Copy"):
    ms_op(_name)(_identity)


@ms_op("ops.AdaptiveAvgPool2DExt")
def adaptive_avg_pool_prim(g: GraphBuilder, a: dict, x, output_size):
    """output_size 1 (global average pooling) only"""
    size = _ints(_const(g, output_size, "AdaptiveAvgPool2D output_size"))
    if any(s != 1 for s in size):
        raise ValueError(f"adaptive average pooling to {size} is not supported (1 only)")
    return g.op("mean", x, axis=(-2, -1), keepdims=True)


# MindSpore's TypeId numbers, as a compiled graph passes Cast's target dtype
_TYPE_IDS = {30: "bool", 34: "int32", 43: "float32"}


@ms_op("ops.Cast")
def cast_prim(g: GraphBuilder, a: dict, x, dtype):
    """x as float32, int32 or bool (`.astype`; other targets are refused, not narrowed)"""
    value = _const(g, dtype, "Cast dtype")
    name = _TYPE_IDS.get(int(value)) if np.ndim(value) == 0 and value.dtype.kind in "iu" else str(value)
    if name not in ("float32", "int32", "bool"):
        raise ValueError(f"Cast to {value} is not supported (float32, int32, bool)")
    return x if np.dtype(name) == x.dtype else g.op("cast", x, np.dtype(name))


@ms_op("ops.ArgMaxWithValue", ("axis", "keep_dims"), _tuple_check)
def argmax_with_value_prim(g: GraphBuilder, a: dict, x):
    """(index, value) of the maximum along axis (`x.max(axis)`); the index as int32"""
    axis, keep = int(a.get("axis", 0)), bool(a.get("keep_dims", False))
    return (g.op("argmax", x, axis=axis, keepdims=keep), g.op("max", x, axis=(axis,), keepdims=keep))


@ms_op("ops.Argmax", ("axis", "output_type"))
def argmax_prim(g: GraphBuilder, a: dict, x):
    """index of the maximum along axis (default -1), as int32"""
    return g.op("argmax", x, axis=int(a.get("axis", -1)))

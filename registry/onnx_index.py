"""The ONNX frontend for index ops: GatherElements, GatherND, ScatterElements / Scatter, ScatterND, CumSum,
CumProd, TopK, Trilu, OneHot, Hardmax, EyeLike, NonZero and Compress.

Gathers, scatters, cumulative ops and TopK's index search are kernels (ops/index_ops.py, ops/scan.py);
Trilu, OneHot and Hardmax are compositions (a where over a host-built mask, an equal against a host
arange); EyeLike is a host constant. NonZero and Compress have data-dependent output shapes: they fold
when their data (Compress: the condition) is known before the run (a constant, or a graph input the session
specialises on) and are refused otherwise. Tensor inputs that act as attributes (axis, k, depth, values)
are read the same way.
"""

from __future__ import annotations

import numpy as np

from .dtypes import narrow_constant as _narrow
from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, _const, onnx_op
from .onnx_shape_ops import _cast_to

_REDUCTIONS = ("none", "add", "mul", "max", "min")


def _str(a: dict, key: str, default: str) -> str:
    v = a.get(key, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def _scalar(g: GraphBuilder, value, what: str) -> int:
    arr = np.asarray(_const(g.label, value, what))
    if arr.size != 1:
        raise AttributeError_(f"{g.label}: {what} must hold one value, got shape {arr.shape}")
    return int(arr.reshape(-1)[0])


def _reduction(g: GraphBuilder, a: dict, op: str) -> str:
    red = _str(a, "reduction", "none")
    if red not in _REDUCTIONS:
        raise AttributeError_(f"{g.label}: {op} reduction={red!r} is not supported")
    return red


# ---- gathers and scatters -------------------------------------------------------------------------------
def _moves_bools(translate):
    """Gathers and scatters only move elements: bool data (a dynamo export's attention mask) moves as int32."""

    def wrapper(g: GraphBuilder, a: dict, data, indices, *updates):
        if is_const(data) or np.dtype(data.dtype) != np.bool_:
            return translate(g, a, data, indices, *updates)
        updates = [_cast_to(g, u, np.dtype(np.int32)) for u in updates]
        moved = translate(g, a, _cast_to(g, data, np.dtype(np.int32)), indices, *updates)
        return _cast_to(g, moved, np.dtype(np.bool_))

    return wrapper


@onnx_op(F, "GatherElements", 11, ("axis",))
@_moves_bools
def gather_elements(g: GraphBuilder, a: dict, data, indices):
    return g.op("take_along_axis", _narrow(data), _narrow(indices), axis=int(a.get("axis", 0)))


def _scatter_elements(g: GraphBuilder, a: dict, data, indices, updates, red: str):
    return g.op(
        "scatter_elements", _narrow(data), _narrow(indices), _narrow(updates), axis=int(a.get("axis", 0)), reduction=red
    )


@onnx_op(F, "Scatter", 9, ("axis",))
def scatter(g: GraphBuilder, a: dict, data, indices, updates):
    """The deprecated Scatter (opsets 9, 10): ScatterElements without a reduction."""
    return _scatter_elements(g, a, data, indices, updates, "none")


@onnx_op(F, "ScatterElements", 11, ("axis", "reduction"))
@_moves_bools
def scatter_elements(g: GraphBuilder, a: dict, data, indices, updates):
    return _scatter_elements(g, a, data, indices, updates, _reduction(g, a, "ScatterElements"))


@onnx_op(F, "GatherND", 11, ("batch_dims",))
@_moves_bools
def gather_nd(g: GraphBuilder, a: dict, data, indices):
    return g.op("gather_nd", _narrow(data), _narrow(indices), batch_dims=int(a.get("batch_dims", 0)))


@onnx_op(F, "ScatterND", 11, ("reduction",))
@_moves_bools
def scatter_nd(g: GraphBuilder, a: dict, data, indices, updates):
    red = _reduction(g, a, "ScatterND")
    return g.op("scatter_nd", _narrow(data), _narrow(indices), _narrow(updates), reduction=red)


# ---- along one axis -------------------------------------------------------------------------------------
def _cumulative(onnx_name: str, op_name: str, since: int):
    def translate(g: GraphBuilder, a: dict, x, axis):
        ax = _scalar(g, axis, f"{onnx_name} axis")
        rank = len(x.shape)
        if not -rank <= ax < rank:
            raise AttributeError_(f"{g.label}: {onnx_name} axis {ax} is out of range for rank {rank}")
        exclusive, reverse = bool(a.get("exclusive", 0)), bool(a.get("reverse", 0))
        return g.op(op_name, _narrow(x), axis=ax, exclusive=exclusive, reverse=reverse)

    onnx_op(F, onnx_name, since, ("exclusive", "reverse"))(translate)


_cumulative("CumSum", "cumsum", 11)
_cumulative("CumProd", "cumprod", 26)


def _top_k(g: GraphBuilder, x, k: int, axis: int, largest: bool):
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise AttributeError_(f"{g.label}: TopK axis {axis} is out of range for rank {rank}")
    if not 0 <= k <= x.shape[axis]:
        raise AttributeError_(f"{g.label}: TopK k = {k} is out of range for axis {axis} of size {x.shape[axis]}")
    x = _narrow(x)
    idx = g.op("topk_indices", x, k, axis=axis, largest=largest)
    return [g.op("take_along_axis", x, idx, axis=axis), idx]


@onnx_op(F, "TopK", 1, ("axis", "k"))
def top_k_v1(g: GraphBuilder, a: dict, x):
    return _top_k(g, x, int(a["k"]), int(a.get("axis", -1)), True)


@onnx_op(F, "TopK", 10, ("axis", "largest", "sorted"))
def top_k(g: GraphBuilder, a: dict, x, k):
    """Values and int64 indices, best first, equal values by lower index (sorted=0 gets them sorted too)."""
    return _top_k(g, x, _scalar(g, k, "TopK k"), int(a.get("axis", -1)), bool(a.get("largest", 1)))


@onnx_op(F, "Hardmax", 1, ("axis",))
def hardmax_v1(g: GraphBuilder, a: dict, x):
    """Opset < 13: coerce to 2-D at `axis` (default 1), hardmax over the flattened trailing dims."""
    rank = len(x.shape)
    axis = int(a.get("axis", 1)) % max(rank, 1)
    rows = int(np.prod(x.shape[:axis]))
    y = _hardmax(g, x.reshape((rows, int(np.prod(x.shape[axis:])))), 1)
    return y.reshape(x.shape)


@onnx_op(F, "Hardmax", 13, ("axis",))
def hardmax(g: GraphBuilder, a: dict, x):
    return _hardmax(g, x, int(a.get("axis", -1)))


def _hardmax(g: GraphBuilder, x, axis: int):
    """1 at the first maximum along axis, 0 elsewhere: argmax, then an equal against a host arange."""
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise AttributeError_(f"{g.label}: Hardmax axis {axis} is out of range for rank {rank}")
    axis %= rank
    n = x.shape[axis]
    if int(np.prod(x.shape)) == 0:
        return np.zeros(x.shape, np.float32)
    idx = g.op("argmax", _narrow(x), axis=axis, keepdims=True)
    ar = np.arange(n, dtype=np.int32).reshape((n,) + (1,) * (rank - 1 - axis))
    return g.op("where", g.op("equal", idx, ar), np.float32(1), np.float32(0))


# ---- masks and constants --------------------------------------------------------------------------------
@onnx_op(F, "Trilu", 14, ("upper",))
def trilu(g: GraphBuilder, a: dict, x, k=None):
    """Keep the upper (lower) triangle of the last two dims from diagonal k: a where over a host mask."""
    k = 0 if k is None else _scalar(g, k, "Trilu k")
    if len(x.shape) < 2:
        raise AttributeError_(f"{g.label}: Trilu needs rank >= 2, got shape {tuple(x.shape)}")
    n, m = x.shape[-2:]
    ones = np.ones((n, m), bool)
    mask = np.triu(ones, k) if a.get("upper", 1) else np.tril(ones, k)
    if is_const(x):
        return np.where(mask, np.asarray(x), np.zeros((), np.asarray(x).dtype))
    if int(np.prod(x.shape)) == 0:
        return x
    return g.op("where", mask, x, np.zeros((), x.dtype))


@onnx_op(F, "OneHot", 9, ("axis",))
def one_hot(g: GraphBuilder, a: dict, indices, depth, values):
    """values[1] where the (wrapped) index equals the position along the new axis, else values[0]."""
    depth = _scalar(g, np.asarray(_const(g.label, depth, "OneHot depth")).astype(np.float64).astype(np.int64), "depth")
    vals = _narrow(np.asarray(_const(g.label, values, "OneHot values")))
    if vals.size != 2:
        raise AttributeError_(f"{g.label}: OneHot values must hold two entries (off, on), got {vals.size}")
    rank = len(indices.shape) + 1
    axis = int(a.get("axis", -1))
    if not -rank <= axis < rank:
        raise AttributeError_(f"{g.label}: OneHot axis {axis} is out of range for output rank {rank}")
    axis %= rank
    ar = np.arange(depth, dtype=np.int32).reshape((depth,) + (1,) * (rank - 1 - axis))
    if is_const(indices):
        ind = np.asarray(indices).astype(np.int64)
        ind = np.where(ind < 0, ind + depth, ind)
        hit = np.expand_dims(ind, axis) == ar
        return np.where(hit, vals.reshape(-1)[1], vals.reshape(-1)[0])
    ind = indices if indices.dtype == np.int32 else g.op("cast", indices, "int32")
    ind = g.op("where", g.op("less", ind, np.int32(0)), g.op("add", ind, np.int32(depth)), ind)
    ind = ind.reshape(tuple(ind.shape[:axis]) + (1,) + tuple(ind.shape[axis:]))
    off, on = vals.reshape(-1)
    return g.op("where", g.op("equal", ind, ar), np.asarray(on), np.asarray(off))


@onnx_op(F, "EyeLike", 9, ("dtype", "k"))
def eye_like(g: GraphBuilder, a: dict, x):
    """A host constant: ones on diagonal k of a 2-D tensor of x's shape, x's dtype unless `dtype` says."""
    from onnx.helper import tensor_dtype_to_np_dtype

    if len(x.shape) != 2:
        raise AttributeError_(f"{g.label}: EyeLike needs a 2-D input, got shape {tuple(x.shape)}")
    dtype = tensor_dtype_to_np_dtype(int(a["dtype"])) if "dtype" in a else np.dtype(x.dtype)
    return np.eye(x.shape[0], x.shape[1], int(a.get("k", 0)), dtype=dtype)


# ---- data-dependent shapes ------------------------------------------------------------------------------
@onnx_op(F, "NonZero", 9)
def non_zero(g: GraphBuilder, a: dict, x):
    """Folds on a known input (a constant, or a graph input the session specialises on): its output shape
    depends on the values."""
    x = _const(g.label, x, "NonZero input (its output shape depends on its values)")
    return np.asarray(np.nonzero(np.asarray(x)), np.int64)


@onnx_op(F, "Compress", 9, ("axis",))
def compress(g: GraphBuilder, a: dict, x, condition):
    """A take of the selected positions; the condition must be known before the run (it sets the shape)."""
    condition = _const(g.label, condition, "Compress condition (the output shape depends on its values)")
    cond = np.asarray(condition).astype(bool).reshape(-1)
    axis = int(a["axis"]) if "axis" in a else None
    if axis is None:
        x = x.reshape((-1,)) if not is_const(x) else np.asarray(x).reshape(-1)
        axis = 0
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise AttributeError_(f"{g.label}: Compress axis {axis} is out of range for rank {rank}")
    if cond.size > x.shape[axis]:
        raise AttributeError_(f"{g.label}: Compress condition of {cond.size} exceeds axis size {x.shape[axis]}")
    picked = np.nonzero(cond)[0].astype(np.int32)
    if is_const(x):
        return np.take(np.asarray(x), picked, axis=axis)
    return g.op("take", x, picked, axis=axis)


@onnx_op(F, "ReverseSequence", 10, ("batch_axis", "time_axis"))
def reverse_sequence(g: GraphBuilder, a: dict, x, lens):
    """Reverse the first lens[b] steps of each batch entry: a take_along_axis of t' = lens - 1 - t where
    t < lens (else t), built from a host arange and the lengths (a length beyond the time axis fails in wasm)."""
    batch_axis, time_axis = int(a.get("batch_axis", 1)), int(a.get("time_axis", 0))
    rank = len(x.shape)
    if rank < 2 or {batch_axis % rank, time_axis % rank} != {0, 1}:
        raise AttributeError_(f"{g.label}: ReverseSequence batch_axis / time_axis must be 0 and 1 (rank {rank})")
    batch_axis, time_axis = batch_axis % rank, time_axis % rank
    lens = _narrow(lens)
    steps = np.arange(x.shape[time_axis], dtype=np.int32).reshape((-1,) + (1,) * (rank - 1 - time_axis))
    lens = lens.reshape((x.shape[batch_axis],) + (1,) * (rank - 1 - batch_axis))
    back = g.op("subtract", g.op("subtract", lens, np.int32(1)), steps)
    idx = g.op("where", g.op("less", steps, lens), back, steps)
    idx = g.op("broadcast_to", idx, tuple(x.shape)) if not is_const(idx) else np.broadcast_to(idx, x.shape).copy()
    return g.op("take_along_axis", _narrow(x), idx, axis=time_axis)

"""The ONNX frontend for reductions: ReduceSum / Mean / Max / Min / Prod / L1 / L2 / LogSum / LogSumExp /
SumSquare and ArgMax / ArgMin, every opset form (axes as an attribute, axes as an input since opset 13 for
ReduceSum and 18 for the rest, keepdims, noop_with_empty_axes).

The reductions the op library has kernels for (sum, mean, max, min, prod) map onto them; the rest are exact
compositions (L1 = sum |x|, L2 = sqrt(sum x²), LogSumExp = m + log(sum(exp(x - m))) with m the max). An
empty reduction (a reduced dim of size 0) is a host constant: the reduction's identity (0 for sums, 1 for
the product, +inf for min, -inf for max and the log-sums), as the ONNX reference gives.
"""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op

#: identity of each ONNX reduction over an empty set
_EMPTY = {
    "ReduceSum": 0.0,
    "ReduceMean": np.nan,
    "ReduceMax": -np.inf,
    "ReduceMin": np.inf,
    "ReduceProd": 1.0,
    "ReduceL1": 0.0,
    "ReduceL2": 0.0,
    "ReduceSumSquare": 0.0,
    "ReduceLogSum": -np.inf,
    "ReduceLogSumExp": -np.inf,
}
_FLOAT_ONLY = ("ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMean")


def _axes(g: GraphBuilder, a: dict, name: str, rank: int, axes_in) -> tuple[int, ...] | None:
    """The reduced axes, normalised; () = reduce nothing (noop_with_empty_axes), None = every axis."""
    axes = a.get("axes") if axes_in is None else _const(g.label, axes_in, f"{name} axes")
    if axes is None or np.size(axes) == 0:
        return () if a.get("noop_with_empty_axes", 0) else None
    out = []
    for v in _ints(axes):
        if not -rank <= v < max(rank, 1):
            raise AttributeError_(f"{g.label}: {name} axis {v} is out of range for rank {rank}")
        out.append(v % max(rank, 1))
    if len(set(out)) != len(out):
        raise AttributeError_(f"{g.label}: {name} axes {_ints(axes)} repeat an axis")
    return tuple(out)


def _reduce(g: GraphBuilder, op: str, x, axes: tuple[int, ...] | None, keepdims: bool):
    """One library reduction; reducing over no axes is the identity."""
    if axes == ():
        return x
    return g.op(op, x, axis=axes, keepdims=keepdims)


def _compose(g: GraphBuilder, name: str, x, axes, keepdims: bool):
    simple = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod"}
    if name in simple:
        return _reduce(g, simple[name], x, axes, keepdims)
    if name == "ReduceL1":
        return _reduce(g, "sum", g.op("abs", x), axes, keepdims)
    if name in ("ReduceL2", "ReduceSumSquare"):
        total = _reduce(g, "sum", g.op("multiply", x, x), axes, keepdims)
        return g.op("sqrt", total) if name == "ReduceL2" else total
    if name == "ReduceLogSum":
        return g.op("log", _reduce(g, "sum", x, axes, keepdims))
    # ReduceLogSumExp, stable: m + log(sum(exp(x - m)))
    if axes == ():
        return x
    m = g.op("max", x, axis=axes, keepdims=True)
    total = g.op("sum", g.op("exp", g.op("subtract", x, m)), axis=axes, keepdims=keepdims)
    return g.op("add", g.op("log", total), m if keepdims else m.reshape(total.shape))


def _translator(name: str):
    def translate(g: GraphBuilder, a: dict, x, axes_in=None):
        rank = len(x.shape)
        axes = _axes(g, a, name, rank, axes_in)
        keepdims = bool(a.get("keepdims", 1))
        dtype = np.dtype(x.dtype)
        if name in _FLOAT_ONLY and dtype.kind != "f":
            raise AttributeError_(f"{g.label}: {name} of {dtype} tensors is not supported (float only)")
        reduced = range(rank) if axes is None else axes
        count = math.prod(x.shape[d] for d in reduced)
        if axes != () and (count == 0 or math.prod(x.shape) == 0):
            shape = tuple(1 if d in reduced else n for d, n in enumerate(x.shape) if keepdims or d not in reduced)
            if count:
                fill = 0
            elif dtype == np.bool_:
                fill = name == "ReduceMin"  # all() of nothing is true, any() false
            elif dtype.kind in "iu" and name in ("ReduceMax", "ReduceMin"):
                # the identity is the end of the caller's integer range, which int32 (the narrowed dtype) hides
                raise AttributeError_(f"{g.label}: {name} of an empty set of integers is not supported")
            elif dtype.kind in "iu":
                fill = int(name == "ReduceProd")
            else:
                fill = _EMPTY[name]
            return np.full(shape, fill, dtype)
        if dtype == np.bool_:
            if name not in ("ReduceMax", "ReduceMin"):
                raise AttributeError_(f"{g.label}: {name} of bool tensors is not supported")
            as_int = x.astype(np.int32) if is_const(x) else g.op("cast", x, "int32")
            y = translate(g, a, as_int, axes_in)
            return np.asarray(y).astype(bool) if is_const(y) else g.op("cast", y, "bool")
        if is_const(x):
            x = np.asarray(x)
            if x.dtype == np.float64:
                x = x.astype(np.float32)
        return _compose(g, name, x, axes, keepdims)

    translate.__doc__ = f"ONNX {name}: reduced axes from the attribute or the (constant) axes input."
    return translate


for _name, _since in [
    ("ReduceSum", 13),
    ("ReduceMean", 18),
    ("ReduceMax", 18),
    ("ReduceMin", 18),
    ("ReduceProd", 18),
    ("ReduceL1", 18),
    ("ReduceL2", 18),
    ("ReduceSumSquare", 18),
    ("ReduceLogSum", 18),
    ("ReduceLogSumExp", 18),
]:
    onnx_op(F, _name, 1, ("axes", "keepdims"))(_translator(_name))
    onnx_op(F, _name, _since, ("keepdims", "noop_with_empty_axes"))(_translator(_name))


def _arg(onnx_name: str, op_name: str):
    def translate(g: GraphBuilder, a: dict, x):
        rank = len(x.shape)
        axis = int(a.get("axis", 0))
        if not -rank <= axis < max(rank, 1):
            raise AttributeError_(f"{g.label}: {onnx_name} axis {axis} is out of range for rank {rank}")
        if x.shape[axis % max(rank, 1)] == 0:
            raise AttributeError_(f"{g.label}: {onnx_name} over the empty axis {axis} of shape {tuple(x.shape)}")
        return g.op(
            op_name,
            x,
            axis=axis,
            keepdims=bool(a.get("keepdims", 1)),
            select_last_index=bool(a.get("select_last_index", 0)),
        )

    translate.__doc__ = f"ONNX {onnx_name}: int32 indices in wasm, int64 to the caller."
    onnx_op(F, onnx_name, 1, ("axis", "keepdims", "select_last_index"))(translate)


_arg("ArgMax", "argmax")
_arg("ArgMin", "argmin")

"""The MindSpore frontend, continued: the elementwise, reduction and activation families as table rows.

One row per MindSpore name: the wasmops op it maps onto and the attribute values that op takes (MindSpore's
own defaults where an attribute is omitted). Layout, indexing and normalisation primitives that need code
are in mindspore_layout.py; see mindspore_ops.py for the conventions.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .mindspore_ops import _const, _ints, ms_op

# (MindSpore names, wasmops op, fixed attributes, attributes read from the layer: {ours: (theirs, default)})
UNARY: list[tuple[tuple[str, ...], str, dict, dict]] = [
    (("ops.Exp",), "exp", {}, {}),
    (("ops.Log",), "log", {}, {}),
    (("ops.Sqrt",), "sqrt", {}, {}),
    (("ops.Neg",), "neg", {}, {}),
    (("ops.Abs",), "abs", {}, {}),
    (("ops.Floor",), "floor", {}, {}),
    (("ops.Ceil",), "ceil", {}, {}),
    (("ops.Reciprocal",), "reciprocal", {}, {}),
    (("ops.Sign",), "sign", {}, {}),
    (("ops.Sin",), "sin", {}, {}),
    (("ops.Cos",), "cos", {}, {}),
    (("ops.Tan",), "tan", {}, {}),
    (("ops.Sinh",), "sinh", {}, {}),
    (("ops.Cosh",), "cosh", {}, {}),
    (("ops.Asin",), "arcsin", {}, {}),
    (("ops.ACos",), "arccos", {}, {}),
    (("ops.Atan",), "arctan", {}, {}),
    (("ops.Asinh",), "arcsinh", {}, {}),
    (("ops.Acosh",), "arccosh", {}, {}),
    (("ops.Atanh",), "arctanh", {}, {}),
    (("ops.Erf",), "erf", {}, {}),
    (("ops.Softsign", "nn.Softsign"), "softsign", {}, {}),
    (("ops.Mish", "nn.Mish"), "mish", {}, {}),
    (("ops.SiLU", "nn.SiLU"), "silu", {}, {}),
    (("ops.HSwish", "nn.HSwish"), "hard_swish", {}, {}),
    # MindSpore's hard sigmoid is relu6(x + 3) / 6
    (("ops.HSigmoid", "nn.HSigmoid"), "hard_sigmoid", {"alpha": 1 / 6, "beta": 0.5}, {}),
    (("ops.Elu",), "elu", {}, {"alpha": ("alpha", 1.0)}),
    (("nn.ELU",), "elu", {}, {"alpha": ("alpha", 1.0)}),
    (("nn.LeakyReLU",), "leaky_relu", {}, {"alpha": ("alpha", 0.2)}),
    (("ops.LogicalNot",), "logical_not", {}, {}),
    (("ops.IsNan",), "isnan", {}, {}),
    (("ops.IsInf",), "isinf", {}, {}),
]

BINARY: list[tuple[str, str]] = [
    ("ops.Pow", "power"),
    ("ops.Equal", "equal"),
    ("ops.Greater", "greater"),
    ("ops.GreaterEqual", "greater_equal"),
    ("ops.Less", "less"),
    ("ops.LessEqual", "less_equal"),
    ("ops.LogicalAnd", "logical_and"),
    ("ops.LogicalOr", "logical_or"),
    ("ops.SquaredDifference", "squared_difference"),
]

REDUCE: list[tuple[str, str]] = [("ops.ReduceMin", "min"), ("ops.ReduceProd", "prod")]


def _unary_row(name: str, op: str, fixed: dict, read: dict) -> None:
    def translate(g: GraphBuilder, a: dict, x):
        attrs = dict(fixed)
        for ours, (theirs, default) in read.items():
            attrs[ours] = float(default if a.get(theirs) is None else a[theirs])
        return g.op(op, x, **attrs)

    translate.__doc__ = f"{op}"
    ms_op(name, tuple(theirs for theirs, _ in read.values()))(translate)


for _names, _op, _fixed, _read in UNARY:
    for _name in _names:
        _unary_row(_name, _op, _fixed, _read)


def _scalar_like(value, other):
    """A Python scalar operand takes the tensor operand's dtype, as in MindSpore."""
    if is_const(value) and np.ndim(value) == 0 and not is_const(other):
        return np.asarray(value, other.dtype)
    return value


def _binary_row(name: str, op: str) -> None:
    def translate(g: GraphBuilder, a: dict, x, y):
        x, y = _scalar_like(x, y), _scalar_like(y, x)
        if op == "squared_difference":
            d = g.op("subtract", x, y)
            return g.op("multiply", d, d)
        return g.op(op, x, y)

    translate.__doc__ = op
    ms_op(name)(translate)


for _name, _op in BINARY:
    _binary_row(_name, _op)


def _reduce_row(name: str, op: str) -> None:
    def translate(g: GraphBuilder, a: dict, x, axis=()):
        axes = _ints(_const(g, axis, f"{name} axis"))
        return g.op(op, x, axis=axes or None, keepdims=bool(a.get("keep_dims", False)))

    translate.__doc__ = op
    ms_op(name, ("keep_dims",))(translate)


for _name, _op in REDUCE:
    _reduce_row(_name, _op)


@ms_op("ops.Square")
def square_prim(g: GraphBuilder, a: dict, x):
    """x * x"""
    return g.op("multiply", x, x)


@ms_op("ops.Rsqrt")
def rsqrt_prim(g: GraphBuilder, a: dict, x):
    """1 / sqrt(x)"""
    return g.op("reciprocal", g.op("sqrt", x))


def _alpha_binary(op: str):
    """x op alpha * y: AddExt / SubExt, and the in-place `x += y` / `x -= y` of construct code (Inplace*Ext)."""

    def translate(g: GraphBuilder, a: dict, x, y, alpha=1):
        x, y = _scalar_like(x, y), _scalar_like(y, x)
        if float(np.asarray(alpha)) != 1.0:
            y = g.op("multiply", y, np.asarray(alpha, np.float32))
        return g.op(op, x, y)

    return translate


for _op, _names in (
    ("add", ("ops.AddExt", "ops.InplaceAddExt", "ops.AddScalar")),
    ("subtract", ("ops.SubExt", "ops.InplaceSubExt", "ops.SubScalar")),
):
    for _name in _names:
        ms_op(_name)(_alpha_binary(_op))


def _inplace_binary(name: str, op: str) -> None:
    def translate(g: GraphBuilder, a: dict, x, y):
        return g.op(op, _scalar_like(x, y), _scalar_like(y, x))

    translate.__doc__ = f"{op} (the in-place form of construct code: x {op}= y)"
    ms_op(name)(translate)


for _name, _op in [("ops.InplaceMul", "multiply"), ("ops.InplaceDiv", "divide"), ("ops.Muls", "multiply")]:
    _inplace_binary(_name, _op)


for _name, _op in [("ops.Divs", "divide"), ("ops.PowTensorScalar", "power")]:
    _inplace_binary(_name, _op)


@ms_op("ops.ClampScalar")
def clamp_scalar_prim(g: GraphBuilder, a: dict, x, low=None, high=None):
    """min(max(x, min), max); a missing bound is open"""
    lo = -np.inf if low is None or np.ndim(low) and np.size(low) == 0 else float(np.asarray(low))
    hi = np.inf if high is None or np.ndim(high) and np.size(high) == 0 else float(np.asarray(high))
    return g.op("clip", x, min=lo, max=hi)


def _ext_reduce(op: str):
    def translate(g: GraphBuilder, a: dict, x, dim=None, keepdim=False, dtype=None):
        if dtype is not None and np.size(dtype):
            raise ValueError(f"{op} with a dtype argument is not supported")
        axes = () if dim is None else _ints(_const(g, dim, f"{op} dim"))
        return g.op(op, x, axis=axes or None, keepdims=bool(np.asarray(keepdim)))

    translate.__doc__ = f"{op} over dim (all dims by default)"
    return translate


ms_op("ops.MeanExt")(_ext_reduce("mean"))
ms_op("ops.SumExt")(_ext_reduce("sum"))


@ms_op("ops.Dense")
def dense_prim(g: GraphBuilder, a: dict, x, weight, bias=None):
    """x @ weight.T + bias (mint's linear)"""
    return g.op("dense", x, weight, bias)

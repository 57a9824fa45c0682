"""The MindSpore frontend: nn cells ("nn.Conv2d") and primitives ("ops.Conv2D") onto wasmops ops.

Each translator receives the GraphBuilder, the layer's attributes and parameters as plain Python / numpy
values (the binding reads them from the cell; dotted names such as "softmax.axis" reach into a cell's
internal primitive) and its inputs: TensorRefs for tensors that arrive at run time, numpy arrays for
values known when the op is compiled (a Reshape's shape, a scalar operand). MindSpore itself is never
imported here. `static_problem` rejects attribute values the kernels cannot serve before any shapes are
known, so `to_wasm` can keep such a layer native and say why. Pooling and normalisation layers are in
mindspore_pool_norm.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .graph import GraphBuilder, is_const
from .table import REGISTRY

F = "mindspore"
_CHECKS: dict[str, Callable[[dict], str | None]] = {}


def ms_op(name: str, attrs: tuple[str, ...] = (), check: Callable[[dict], str | None] | None = None):
    """Register a translator; `check(attrs)` returns why the attribute values are unsupported, or None."""
    if check is not None:
        _CHECKS[name] = check
    return REGISTRY.register(F, name, 1, attrs)


def static_problem(name: str, attrs: dict) -> str | None:
    """Why this layer cannot run on wasm whatever its input shapes (None if it can)."""
    check = _CHECKS.get(name)
    return check(attrs) if check else None


# ---- attribute helpers ------------------------------------------------------------------------------------
def _hw(value) -> tuple[int, int]:
    """MindSpore spells 2-D sizes as int, (h, w) or (1, 1, h, w) / (1, h, w) (NCHW primitive form)."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    v = [int(x) for x in value]
    return (v[0], v[0]) if len(v) == 1 else (v[-2], v[-1])


def _ints(value) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


def _nchw(a: dict, key: str = "data_format") -> str | None:
    fmt = a.get(key)
    if fmt not in (None, "NCHW", 0):
        return f"{key}={fmt!r} is not supported (NCHW only)"
    return None


def _same_pads(size: tuple[int, ...], kernel, stride, dilation=(1, 1)) -> tuple[int, int, int, int]:
    """MindSpore / TF 'same': out = ceil(in / stride); the odd pad goes to the bottom / right."""
    begin, end = [], []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin[0], begin[1], end[0], end[1]


def _tblr(padding) -> tuple[int, int, int, int]:
    """MindSpore padding (int or top, bottom, left, right) as wasmops (top, left, bottom, right)."""
    if isinstance(padding, int | np.integer):
        p = int(padding)
        return p, p, p, p
    p = [int(v) for v in padding]
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    return p[0], p[2], p[1], p[3]


def _mode(value) -> str:
    return str(value).lower()


def _const(g: GraphBuilder, value, what: str) -> np.ndarray:
    if not is_const(value):
        raise ValueError(f"{g.label}: {what} must be known when the graph is compiled, not a run-time tensor")
    return np.asarray(value)


# ---- convolution, dense, matmul ---------------------------------------------------------------------------
def _conv_check(a: dict) -> str | None:
    if _mode(a.get("pad_mode", "same")) not in ("same", "valid", "pad"):
        return f"pad_mode={a.get('pad_mode')!r} is not supported"
    return _nchw(a, "data_format" if "data_format" in a else "format")


def _conv(g: GraphBuilder, x, w, b, pad_mode, padding, stride, dilation, group):
    stride, dilation = _hw(stride), _hw(dilation)
    mode = _mode(pad_mode)
    if mode == "same":
        pads = _same_pads(tuple(x.shape[2:]), w.shape[2:], stride, dilation)
    elif mode == "valid":
        pads = (0, 0, 0, 0)
    else:
        pads = _tblr(padding)
    return g.op("conv2d", x, w, b, stride=stride, padding=pads, dilation=dilation, groups=int(group))


@ms_op(
    "nn.Conv2d",
    ("pad_mode", "padding", "stride", "dilation", "group", "has_bias", "data_format", "weight", "bias"),
    _conv_check,
)
def conv2d_cell(g: GraphBuilder, a: dict, x):
    bias = a["bias"] if a.get("has_bias") else None
    return _conv(g, x, a["weight"], bias, a["pad_mode"], a["padding"], a["stride"], a["dilation"], a["group"])


@ms_op("ops.Conv2D", ("pad_mode", "pad", "stride", "dilation", "group", "data_format", "mode"), _conv_check)
def conv2d_prim(g: GraphBuilder, a: dict, x, w):
    return _conv(
        g,
        x,
        w,
        None,
        a.get("pad_mode", "valid"),
        a.get("pad", 0),
        a.get("stride", 1),
        a.get("dilation", 1),
        a.get("group", 1),
    )


_ACTIVATIONS = {"nn.ReLU": "relu", "nn.ReLU6": "relu6", "nn.Sigmoid": "sigmoid", "nn.Tanh": "tanh"}


def _dense_check(a: dict) -> str | None:
    act = a.get("activation")
    if act is not None and act not in _ACTIVATIONS and act != "nn.GELU":
        return f"activation {act} is not supported"
    return None


@ms_op("nn.Dense", ("has_bias", "activation", "activation.approximate", "weight", "bias"), _dense_check)
def dense_cell(g: GraphBuilder, a: dict, x):
    y = g.op("dense", x, a["weight"], a["bias"] if a.get("has_bias") else None)
    act = a.get("activation")
    if act == "nn.GELU":
        return _gelu(g, y, a.get("activation.approximate"))
    return y if act is None else g.op(_ACTIVATIONS[act], y)


def _swap_last(g: GraphBuilder, x):
    axes = list(range(len(x.shape)))
    axes[-2:] = axes[-1], axes[-2]
    return g.op("transpose", x, axes)


@ms_op("ops.MatMul", ("transpose_a", "transpose_b"))
def matmul_prim(g: GraphBuilder, a: dict, x, y):
    """A constant right operand with transpose_b is a dense weight already: no transpose at run time."""
    if a.get("transpose_b") and is_const(y) and not is_const(x):
        return g.op("dense", _swap_last(g, x) if a.get("transpose_a") else x, np.ascontiguousarray(y))
    return batch_matmul_prim(g, a, x, y)


@ms_op("ops.BatchMatMul", ("transpose_a", "transpose_b"))
def batch_matmul_prim(g: GraphBuilder, a: dict, x, y):
    x = _swap_last(g, x) if a.get("transpose_a") else x
    return g.op("matmul", x, _swap_last(g, y) if a.get("transpose_b") else y)


@ms_op("ops.MatMulExt")
def matmul_ext_prim(g: GraphBuilder, a: dict, x, y):
    """ops.matmul: numpy matmul semantics, batch dims broadcast"""
    return g.op("matmul", x, y)


@ms_op("ops.BiasAdd", ("data_format",))
def bias_add_prim(g: GraphBuilder, a: dict, x, bias):
    """NCHW adds along axis 1, NHWC along the last axis."""
    if a.get("data_format") in ("NHWC", 1) or len(x.shape) == 2:
        return g.op("add", x, bias)
    return g.op("add", x, bias.reshape((bias.shape[0],) + (1,) * (len(x.shape) - 2)))


# ---- elementwise -----------------------------------------------------------------------------------------
def _unary(names: tuple[str, ...], op_name: str) -> None:
    for name in names:
        ms_op(name)(lambda g, a, x, _op=op_name: g.op(_op, x))


for _names, _op in [
    (("ops.ReLU", "nn.ReLU"), "relu"),
    (("ops.ReLU6", "nn.ReLU6"), "relu6"),
    (("ops.Sigmoid", "nn.Sigmoid"), "sigmoid"),
    (("ops.Tanh", "nn.Tanh"), "tanh"),
]:
    _unary(_names, _op)


def _gelu(g: GraphBuilder, x, approximate) -> object:
    """Exact (erf) GELU, or MindSpore's default tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if _mode(approximate) in ("none", "false"):
        return g.op("gelu", x)
    f = np.float32
    cube = g.op("multiply", g.op("multiply", x, x), x)
    inner = g.op("add", x, g.op("multiply", cube, f(0.044715)))
    t = g.op("tanh", g.op("multiply", inner, f(math.sqrt(2.0 / math.pi))))
    return g.op("multiply", g.op("multiply", x, f(0.5)), g.op("add", t, f(1.0)))


@ms_op("ops.GeLU")
def gelu_prim(g: GraphBuilder, a: dict, x):
    """ops.GeLU computes the tanh approximation on MindSpore CPU."""
    return _gelu(g, x, "tanh")


@ms_op("nn.GELU", ("approximate",))
def gelu_cell(g: GraphBuilder, a: dict, x):
    return _gelu(g, x, a.get("approximate", "tanh"))


def _binary(name: str, op_name: str) -> None:
    def translate(g: GraphBuilder, a: dict, x, y):
        # a Python scalar operand takes the tensor's dtype, as in MindSpore (x * 2 stays float32)
        if is_const(y) and np.ndim(y) == 0 and not is_const(x):
            y = np.asarray(y, x.dtype)
        if is_const(x) and np.ndim(x) == 0 and not is_const(y):
            x = np.asarray(x, y.dtype)
        return g.op(op_name, x, y)

    ms_op(name)(translate)


for _name, _op in [
    ("ops.Add", "add"),
    ("ops.Sub", "subtract"),
    ("ops.Mul", "multiply"),
    ("ops.RealDiv", "divide"),
    ("ops.Div", "divide"),
    ("ops.Maximum", "maximum"),
    ("ops.Minimum", "minimum"),
]:
    _binary(_name, _op)


# ---- softmax, reductions -------------------------------------------------------------------------------------
def _one_axis(value) -> int:
    axes = _ints(value)
    if len(axes) != 1:
        raise ValueError(f"softmax over several axes {axes} is not supported")
    return axes[0]


def _softmax_check(key: str) -> Callable[[dict], str | None]:
    def check(a: dict) -> str | None:
        return None if len(_ints(a.get(key, -1))) == 1 else f"{key}={a.get(key)} (several axes) is not supported"

    return check


ms_op("ops.Softmax", ("axis",), _softmax_check("axis"))(
    lambda g, a, x: g.op("softmax", x, axis=_one_axis(a.get("axis", -1)))
)
ms_op("nn.Softmax", ("softmax.axis",), _softmax_check("softmax.axis"))(
    lambda g, a, x: g.op("softmax", x, axis=_one_axis(a.get("softmax.axis", -1)))
)
ms_op("ops.LogSoftmax", ("axis",))(lambda g, a, x: g.op("log_softmax", x, axis=int(a.get("axis", -1))))
ms_op("nn.LogSoftmax", ("log_softmax.axis",))(
    lambda g, a, x: g.op("log_softmax", x, axis=int(a.get("log_softmax.axis", -1)))
)


def _reduce(name: str, op_name: str) -> None:
    def translate(g: GraphBuilder, a: dict, x, axis=()):
        axes = _ints(_const(g, axis, f"{name} axis"))
        keep = bool(a.get("keep_dims", False))
        if op_name == "mean" and keep and len(x.shape) == 4 and sorted(ax % 4 for ax in axes) == [2, 3]:
            return g.op("global_avg_pool2d", x)  # the global pooling of CNN heads
        return g.op(op_name, x, axis=axes or None, keepdims=keep)

    ms_op(name, ("keep_dims",))(translate)


for _name, _op in [("ops.ReduceMean", "mean"), ("ops.ReduceSum", "sum"), ("ops.ReduceMax", "max")]:
    _reduce(_name, _op)


# ---- layout -----------------------------------------------------------------------------------------------
@ms_op("ops.Reshape")
def reshape_prim(g: GraphBuilder, a: dict, x, shape):
    return g.op("reshape", x, _ints(_const(g, shape, "Reshape shape")))


@ms_op("ops.Transpose")
def transpose_prim(g: GraphBuilder, a: dict, x, perm):
    return g.op("transpose", x, _ints(_const(g, perm, "Transpose perm")))


@ms_op("ops.Concat", ("axis",))
def concat_prim(g: GraphBuilder, a: dict, *xs):
    return g.op("concatenate", list(xs), axis=int(a.get("axis", 0)))


@ms_op("nn.Flatten", ("start_dim", "end_dim"))
def flatten_cell(g: GraphBuilder, a: dict, x):
    return g.op("flatten", x, start_dim=int(a.get("start_dim", 1)), end_dim=int(a.get("end_dim", -1)))


@ms_op("ops.Flatten")
def flatten_prim(g: GraphBuilder, a: dict, x):
    return g.op("flatten", x, start_dim=1)

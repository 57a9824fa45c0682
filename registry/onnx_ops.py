"""The ONNX frontend: ONNX operator types (by opset) onto wasmops ops, with attribute translation.

Each translator receives the GraphBuilder, the node's attributes (decoded) and its input values
(numpy constants or TensorRefs; None for an omitted optional input) and returns the output value(s).
Shape-only ops (Shape, Unsqueeze, Reshape, ...) and anything whose inputs are all constant are folded
or aliased at load; only real tensor work becomes kernel calls.
"""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder, Value, is_const
from .pool_nd import max_pool_with_indices, pool_nd
from .table import REGISTRY

onnx_op = REGISTRY.register
F = "onnx"
_POOL = ("kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations", "storage_order")


class AttributeError_(ValueError):
    """An attribute value the op library does not support (raised while planning, naming the node)."""


def _ints(values) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1)]


class NeedsValue(AttributeError_):
    """A tensor used as an attribute (axes, shape, k, ...) is only known at run time.

    The session catches it: when the tensor is a graph input it specialises the program on that input's
    value (as it does on input shapes) and translates again; otherwise the node is unsupported.
    """

    def __init__(self, message: str, ref: Value):
        super().__init__(message)
        self.ref = ref


def _const(node: str, value: Value | None, what: str) -> np.ndarray:
    if value is not None and not is_const(value):
        raise NeedsValue(f"{node}: {what} must be known before the run (a constant, or a graph input)", value)
    return value


def _spatial_pads(a: dict, x_shape, kernel, strides, dilations) -> tuple[int, int, int, int]:
    """ONNX pads / auto_pad for 2-D ops as (top, left, bottom, right)."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        pads = _ints(a.get("pads", [0, 0, 0, 0]))
        return pads[0], pads[1], pads[2], pads[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    begin, end = [], []
    for size, k, s, d in zip(x_shape[2:], kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(big if auto == "SAME_LOWER" else small)
        end.append(small if auto == "SAME_LOWER" else big)
    return begin[0], begin[1], end[0], end[1]


def _need_2d(node_label: str, x: Value, what: str) -> None:
    if len(x.shape) != 4:
        raise AttributeError_(
            f"{node_label}: only 1-D and 2-D {what} on NC[H]W tensors is supported, got input {x.shape}"
        )


def _lift_1d(a: dict, *tensors):
    """1-D conv / pool as 2-D with a unit height: insert H=1 into tensors and the spatial attributes."""
    a = dict(a)
    for key, unit in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        if key in a:
            a[key] = [unit] + _ints(a[key])
    if "pads" in a:
        pads = _ints(a["pads"])
        a["pads"] = [0, pads[0], 0, pads[1]]
    lifted = [
        None if t is None or len(t.shape) != 3 else t.reshape((t.shape[0], t.shape[1], 1, t.shape[2])) for t in tensors
    ]
    return a, [t if lt is None else lt for t, lt in zip(tensors, lifted, strict=True)]


def _one_d(fn):
    """Wrap a 2-D translator so 3-D (N, C, L) inputs run as (N, C, 1, L) and come back 3-D."""

    def translate(g: GraphBuilder, a: dict, x, *rest):
        if len(x.shape) != 3:
            return fn(g, a, x, *rest)
        a, (x, *rest) = _lift_1d(a, x, *rest)
        y = fn(g, a, x, *rest)
        drop = lambda t: t.reshape((t.shape[0], t.shape[1], t.shape[3]))  # noqa: E731
        return [drop(t) for t in y] if isinstance(y, list) else drop(y)

    translate.__doc__ = fn.__doc__
    return translate


# ---- convolution, dense --------------------------------------------------------------------------------
@onnx_op(F, "Conv", 1, ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"))
@_one_d
def conv(g: GraphBuilder, a: dict, x, w, b=None):
    _need_2d(g.label, x, "convolution")
    strides, dilations = _ints(a.get("strides", [1, 1])), _ints(a.get("dilations", [1, 1]))
    pads = _spatial_pads(a, x.shape, w.shape[2:], strides, dilations)
    return g.op(
        "conv2d", x, w, b, stride=tuple(strides), padding=pads, dilation=tuple(dilations), groups=int(a.get("group", 1))
    )


@onnx_op(F, "Gemm", 1, ("alpha", "beta", "transA", "transB", "broadcast"))
def gemm(g: GraphBuilder, a: dict, x, w, c=None):
    """alpha * A' @ B' + beta * C: dense when B is a constant (transposed once at load), else matmul."""
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    if a.get("transA", 0):
        x = g.op("transpose", x)
    if is_const(w):
        w_t = np.ascontiguousarray(w if a.get("transB", 0) else w.T)
        if alpha != 1.0:
            w_t = (w_t * np.float32(alpha)).astype(np.float32)
        bias = None
        if c is not None and is_const(c) and np.size(c) in (1, w_t.shape[0]) and np.ndim(c) <= 1:
            bias, c = np.broadcast_to(np.asarray(c, np.float32) * np.float32(beta), (w_t.shape[0],)).copy(), None
        y = g.op("dense", x, w_t, bias)
    else:
        y = g.op("matmul", x, g.op("transpose", w) if a.get("transB", 0) else w)
        if alpha != 1.0:
            y = g.op("multiply", y, np.float32(alpha))
    if c is not None:
        y = g.op("add", y, c if beta == 1.0 else g.op("multiply", c, np.float32(beta)))
    return y


@onnx_op(F, "MatMul", 1)
def matmul(g: GraphBuilder, a: dict, x, y):
    return g.op("matmul", x, y)


# ---- elementwise ----------------------------------------------------------------------------------------
def _unary(onnx_name: str, op_name: str, since: int = 1, attrs: tuple[str, ...] = ()):
    onnx_op(F, onnx_name, since, attrs + ("consumed_inputs",))(lambda g, a, x: g.op(op_name, x))


for _onnx, _op in [
    ("Relu", "relu"),
    ("Sigmoid", "sigmoid"),
    ("Tanh", "tanh"),
    ("Exp", "exp"),
    ("Log", "log"),
    ("Sqrt", "sqrt"),
    ("Neg", "neg"),
    ("Abs", "abs"),
]:
    _unary(_onnx, _op)


@onnx_op(F, "LeakyRelu", 1, ("alpha", "consumed_inputs"))
def leaky_relu(g: GraphBuilder, a: dict, x):
    return g.op("leaky_relu", x, alpha=float(a.get("alpha", 0.01)))


@onnx_op(F, "Elu", 1, ("alpha", "consumed_inputs"))
def elu(g: GraphBuilder, a: dict, x):
    return g.op("elu", x, alpha=float(a.get("alpha", 1.0)))


@onnx_op(F, "Selu", 1, ("alpha", "gamma", "consumed_inputs"))
def selu(g: GraphBuilder, a: dict, x):
    return g.op(
        "selu",
        x,
        alpha=float(a.get("alpha", 1.67326319217681884765625)),
        gamma=float(a.get("gamma", 1.05070102214813232421875)),
    )


@onnx_op(F, "Softplus", 1)
def softplus(g: GraphBuilder, a: dict, x):
    return g.op("softplus", x)


@onnx_op(F, "PRelu", 1, ("consumed_inputs",))
def prelu(g: GraphBuilder, a: dict, x, slope):
    """max(x, 0) + slope * min(x, 0), slope broadcast (unidirectionally) to x."""
    if len(slope.shape) == 1 and len(x.shape) > 2 and slope.shape[0] == x.shape[1] != x.shape[-1]:
        slope = slope.reshape((slope.shape[0],) + (1,) * (len(x.shape) - 2))  # legacy per-channel slope
    return g.op("add", g.op("relu", x), g.op("multiply", slope, g.op("minimum", x, np.float32(0))))


@onnx_op(F, "Clip", 1, ("min", "max", "consumed_inputs"))
def clip_v1(g: GraphBuilder, a: dict, x):
    return g.op("clip", x, min=float(a.get("min", -np.inf)), max=float(a.get("max", np.inf)))


@onnx_op(F, "Clip", 11)
def clip_v11(g: GraphBuilder, a: dict, x, lo=None, hi=None):
    if np.dtype(x.dtype).kind in "iu":  # integer tensors: exact bounds, as max then min (kernels in int32)
        for bound, op_name, what in ((lo, "maximum", "Clip min"), (hi, "minimum", "Clip max")):
            if bound is not None:
                x = g.op(op_name, x, np.int32(np.asarray(_const(g.label, bound, what)).reshape(-1)[0]))
        return x
    lo = -np.inf if lo is None else float(_const(g.label, lo, "Clip min"))
    hi = np.inf if hi is None else float(_const(g.label, hi, "Clip max"))
    if lo > hi:  # numpy / ONNX: every element becomes max
        return g.op("minimum", g.op("maximum", x, np.float32(lo)), np.float32(hi))
    return g.op("relu6", x) if (lo, hi) == (0.0, 6.0) else g.op("clip", x, min=lo, max=hi)


def _binary(onnx_name: str, op_name: str):
    onnx_op(F, onnx_name, 1, ("broadcast", "axis", "consumed_inputs"))(
        lambda g, a, x, y: g.op(op_name, *_legacy_broadcast(a, x, y))
    )


def _legacy_broadcast(a: dict, x, y):
    """Opset < 7 Add/Mul with broadcast=1 and axis: align y's dims to x starting at `axis`."""
    if a.get("broadcast", 0) and "axis" in a and len(y.shape) < len(x.shape):
        axis = int(a["axis"]) % len(x.shape)
        y = y.reshape(tuple(y.shape) + (1,) * (len(x.shape) - axis - len(y.shape)))
    return x, y


for _onnx, _op in [("Add", "add"), ("Sub", "subtract"), ("Mul", "multiply")]:  # Div, Pow: onnx_elementwise.py
    _binary(_onnx, _op)


def _variadic(onnx_name: str, op_name: str):
    def translate(g: GraphBuilder, a: dict, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = g.op(op_name, out, x)
        return out  # one input: the identity

    onnx_op(F, onnx_name, 1, ("consumed_inputs",))(translate)


for _onnx, _op in [("Sum", "add"), ("Max", "maximum"), ("Min", "minimum")]:
    _variadic(_onnx, _op)


# ---- normalisation, pooling, softmax ----------------------------------------------------------------
@onnx_op(F, "BatchNormalization", 1, ("epsilon", "momentum", "spatial", "is_test", "consumed_inputs", "training_mode"))
def batch_norm(g: GraphBuilder, a: dict, x, scale, bias, mean, var):
    if a.get("training_mode", 0):
        raise AttributeError_(f"{g.label}: BatchNormalization training_mode=1 needs opset 14 (see onnx_batch_norm.py)")
    return g.op("batch_norm", x, scale, bias, mean, var, epsilon=float(a.get("epsilon", 1e-5)))


@onnx_op(F, "InstanceNormalization", 1, ("epsilon", "consumed_inputs"))
def instance_norm(g: GraphBuilder, a: dict, x, scale, bias):
    """Normalise each (n, c) plane: a layer norm over the flattened spatial dims, then the channel affine."""
    n, c = x.shape[0], x.shape[1]
    rows = g.op("layer_norm", x.reshape((n * c, -1)), epsilon=float(a.get("epsilon", 1e-5)))
    per_channel = (c,) + (1,) * (len(x.shape) - 2)
    y = g.op("multiply", rows.reshape(x.shape), scale.reshape(per_channel))
    return g.op("add", y, bias.reshape(per_channel))


@onnx_op(F, "LayerNormalization", 17, ("axis", "epsilon", "stash_type"))
def layer_norm(g: GraphBuilder, a: dict, x, scale, bias=None):
    """The fused kernel for Y alone; with the optional Mean / InvStdDev outputs, the statistics op by op."""
    if int(a.get("stash_type", 1)) != 1:
        raise AttributeError_(f"{g.label}: LayerNormalization stash_type {a['stash_type']} is not supported")
    axis, epsilon = int(a.get("axis", -1)), float(a.get("epsilon", 1e-5))
    if g.num_outputs == 1:
        return g.op("layer_norm", x, scale, bias, axis=axis, epsilon=epsilon)
    if not -len(x.shape) <= axis < len(x.shape):
        raise AttributeError_(f"{g.label}: LayerNormalization axis {axis} is out of range for rank {len(x.shape)}")
    axes = tuple(range(axis % len(x.shape), len(x.shape)))
    mean = g.op("mean", x, axis=axes, keepdims=True)
    centred = g.op("subtract", x, mean)
    var = g.op("mean", g.op("multiply", centred, centred), axis=axes, keepdims=True)
    inv_std = g.op("divide", np.float32(1), g.op("sqrt", g.op("add", var, np.float32(epsilon))))
    y = g.op("multiply", g.op("multiply", centred, inv_std), scale)
    return [y if bias is None else g.op("add", y, bias), mean, inv_std]


def _pool_args(g: GraphBuilder, a: dict, x):
    _need_2d(g.label, x, "pooling")
    kernel = _ints(a["kernel_shape"])
    strides = _ints(a.get("strides", [1, 1]))
    dilations = _ints(a.get("dilations", [1, 1]))
    pads = _spatial_pads(a, x.shape, kernel, strides, dilations)
    return kernel, strides, dilations, pads, bool(a.get("ceil_mode", 0))


def _wide_pads(kernel: list[int], pads) -> bool:
    return any(max(pads[i], pads[i + 2]) > kernel[i] // 2 for i in range(2))


@onnx_op(F, "MaxPool", 1, _POOL)
@_one_d
def max_pool(g: GraphBuilder, a: dict, x):
    if g.num_outputs > 1:
        return max_pool_with_indices(g, a, x)
    if len(x.shape) == 5:
        return pool_nd(g, a, x, "max")
    if int(a.get("storage_order", 0)):
        raise AttributeError_(f"{g.label}: MaxPool storage_order=1 is not supported")
    kernel, strides, dilations, pads, ceil_mode = _pool_args(g, a, x)
    if _wide_pads(kernel, pads):  # beyond the 2-D kernel's padding limit: the separable path
        return pool_nd(g, a, x, "max")
    return g.op(
        "max_pool2d",
        x,
        tuple(kernel),
        stride=tuple(strides),
        padding=pads,
        dilation=tuple(dilations),
        ceil_mode=ceil_mode,
    )


@onnx_op(F, "AveragePool", 1, _POOL + ("count_include_pad",))
@_one_d
def avg_pool(g: GraphBuilder, a: dict, x):
    if len(x.shape) == 5:
        return pool_nd(g, a, x, "avg")
    kernel, strides, dilations, pads, ceil_mode = _pool_args(g, a, x)
    if dilations != [1, 1] or _wide_pads(kernel, pads):
        return pool_nd(g, a, x, "avg")
    return g.op(
        "avg_pool2d",
        x,
        tuple(kernel),
        stride=tuple(strides),
        padding=pads,
        ceil_mode=ceil_mode,
        count_include_pad=bool(a.get("count_include_pad", 0)),
    )


@onnx_op(F, "GlobalAveragePool", 1)
def global_avg_pool(g: GraphBuilder, a: dict, x):
    _need_2d(g.label, x, "pooling")
    return g.op("global_avg_pool2d", x)


def _softmax(op_name: str):
    def legacy(g: GraphBuilder, a: dict, x):
        """Opset < 13: coerce to 2-D at `axis` (default 1), softmax over the flattened trailing dims."""
        axis = int(a.get("axis", 1)) % max(len(x.shape), 1)
        rows = math.prod(x.shape[:axis])
        y = g.op(op_name, x.reshape((rows, math.prod(x.shape[axis:]))), axis=1)
        return y.reshape(x.shape)

    def modern(g: GraphBuilder, a: dict, x):
        return g.op(op_name, x, axis=int(a.get("axis", -1)))

    return legacy, modern


for _onnx, _op in [("Softmax", "softmax"), ("LogSoftmax", "log_softmax")]:
    _legacy, _modern = _softmax(_op)
    onnx_op(F, _onnx, 1, ("axis",))(_legacy)
    onnx_op(F, _onnx, 13, ("axis",))(_modern)

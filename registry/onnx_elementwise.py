"""The ONNX frontend, elementwise families: trigonometric / hyperbolic functions, rounding, small activations
(HardSigmoid, HardSwish, Softsign, Mish, Shrink, ThresholdedRelu, Celu, Swish, Gelu tanh), IsNaN / IsInf,
Mod, integer Div, integer and mixed-type Pow, BitShift, Bitwise*, And / Or / Xor and Mean.

Each translator maps onto one wasmops op (ops/unary_math.py, ops/binary_int.py) or a short chain of them;
attribute values the ops cannot honour are refused with the node's label.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, onnx_op

# ---- unary ----------------------------------------------------------------------------------------------
_UNARY = [
    ("Sin", "sin", 7),
    ("Cos", "cos", 7),
    ("Tan", "tan", 7),
    ("Asin", "arcsin", 7),
    ("Acos", "arccos", 7),
    ("Atan", "arctan", 7),
    ("Sinh", "sinh", 9),
    ("Cosh", "cosh", 9),
    ("Asinh", "arcsinh", 9),
    ("Acosh", "arccosh", 9),
    ("Atanh", "arctanh", 9),
    ("Reciprocal", "reciprocal", 1),
    ("Floor", "floor", 1),
    ("Ceil", "ceil", 1),
    ("Round", "rint", 11),
    ("Sign", "sign", 9),
    ("Softsign", "softsign", 1),
    ("HardSwish", "hard_swish", 14),
    ("Mish", "mish", 18),
    ("IsNaN", "isnan", 9),
    ("BitwiseNot", "bitwise_not", 18),
]


def _unary(op_name: str):
    def translate(g: GraphBuilder, a: dict, x):
        return g.op(op_name, x)

    return translate


for _onnx, _op, _since in _UNARY:
    onnx_op(F, _onnx, _since, ("consumed_inputs",))(_unary(_op))


def _float(a: dict, name: str, default: float) -> float:
    return float(a.get(name, default))


@onnx_op(F, "HardSigmoid", 1, ("alpha", "beta", "consumed_inputs"))
def hard_sigmoid(g: GraphBuilder, a: dict, x):
    return g.op("hard_sigmoid", x, alpha=_float(a, "alpha", 0.2), beta=_float(a, "beta", 0.5))


@onnx_op(F, "Shrink", 9, ("bias", "lambd"))
def shrink(g: GraphBuilder, a: dict, x):
    return g.op("shrink", x, bias=_float(a, "bias", 0.0), lambd=_float(a, "lambd", 0.5))


@onnx_op(F, "ThresholdedRelu", 10, ("alpha",))
def thresholded_relu(g: GraphBuilder, a: dict, x):
    return g.op("thresholded_relu", x, alpha=_float(a, "alpha", 1.0))


@onnx_op(F, "Celu", 12, ("alpha",))
def celu(g: GraphBuilder, a: dict, x):
    return g.op("celu", x, alpha=_float(a, "alpha", 1.0))  # alpha = 0: NaN for x >= 0, 0 below, as onnxruntime


@onnx_op(F, "Swish", 24, ("alpha",))
def swish(g: GraphBuilder, a: dict, x):
    return g.op("swish", x, alpha=_float(a, "alpha", 1.0))


@onnx_op(F, "Gelu", 20, ("approximate",))
def gelu(g: GraphBuilder, a: dict, x):
    approximate = a.get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    if approximate not in ("none", "tanh"):
        raise AttributeError_(f"{g.label}: Gelu approximate={approximate!r} is not supported ('none' or 'tanh')")
    return g.op("gelu" if approximate == "none" else "gelu_tanh", x)


@onnx_op(F, "IsInf", 10, ("detect_negative", "detect_positive"))
def is_inf(g: GraphBuilder, a: dict, x):
    negative, positive = bool(a.get("detect_negative", 1)), bool(a.get("detect_positive", 1))
    if negative and positive:
        return g.op("isinf", x)
    if negative or positive:
        return g.op("isneginf" if negative else "isposinf", x)
    return _all_false(g, x)


def _all_false(g: GraphBuilder, x):
    """IsInf detecting neither sign: false everywhere (isinf and not isinf)."""
    inf = g.op("isinf", x)
    return g.op("logical_and", inf, g.op("logical_not", inf))


# ---- binary ---------------------------------------------------------------------------------------------
def _dtype(x) -> np.dtype:
    return np.dtype(x.dtype)


@onnx_op(F, "Mod", 10, ("fmod",))
def mod(g: GraphBuilder, a: dict, x, y):
    fmod = int(a.get("fmod", 0))
    if fmod not in (0, 1):
        raise AttributeError_(f"{g.label}: Mod fmod={fmod} is not supported (0 or 1)")
    return g.op("fmod" if fmod else "mod", x, y)


def _legacy(a: dict, x, y):
    if a.get("broadcast", 0) and "axis" in a and len(y.shape) < len(x.shape):  # opset < 7 broadcasting
        axis = int(a["axis"]) % len(x.shape)
        y = y.reshape(tuple(y.shape) + (1,) * (len(x.shape) - axis - len(y.shape)))
    return x, y


@onnx_op(F, "Div", 1, ("broadcast", "axis", "consumed_inputs"))
def div(g: GraphBuilder, a: dict, x, y):
    """Float division, or integer division truncating toward zero (x / 0 gives 0; see ops/binary_int.py)."""
    x, y = _legacy(a, x, y)
    if _dtype(x).kind in "iu" and _dtype(y).kind in "iu":
        return g.op("trunc_divide", x, y)
    return g.op("divide", x, y)


@onnx_op(F, "Pow", 1, ("broadcast", "axis"))
def pow_(g: GraphBuilder, a: dict, x, y):
    """Float bases only; an integer exponent is cast to float32 (exact below 2**24, where parity is kept).
    Integer bases are refused: the float32 power is not exact enough to truncate to the right integer, and an
    exact integer power by squaring does not compile in reasonable time yet."""
    x, y = _legacy(a, x, y)
    if _dtype(x).kind in "iub":
        raise AttributeError_(f"{g.label}: Pow with an integer base ({_dtype(x)}) is not supported")
    if _dtype(y).kind in "iu":
        y = np.asarray(y, np.float32) if is_const(y) else g.op("cast", y, "float32")
    return g.op("power", x, y)


@onnx_op(F, "BitShift", 11, ("direction",))
def bit_shift(g: GraphBuilder, a: dict, x, y):
    direction = a.get("direction", b"")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("LEFT", "RIGHT"):
        raise AttributeError_(f"{g.label}: BitShift direction={direction!r} is not supported (LEFT or RIGHT)")
    return g.op("left_shift" if direction == "LEFT" else "right_shift", x, y)


def _binary(op_name: str):
    def translate(g: GraphBuilder, a: dict, x, y):
        return g.op(op_name, *_legacy(a, x, y))

    return translate


for _onnx, _op, _since, _attrs in [
    ("BitwiseAnd", "bitwise_and", 18, ()),
    ("BitwiseOr", "bitwise_or", 18, ()),
    ("BitwiseXor", "bitwise_xor", 18, ()),
    ("And", "logical_and", 1, ("broadcast", "axis")),
    ("Or", "logical_or", 1, ("broadcast", "axis")),
    ("Xor", "logical_xor", 1, ("broadcast", "axis")),
]:
    onnx_op(F, _onnx, _since, _attrs)(_binary(_op))


@onnx_op(F, "Mean", 1, ("consumed_inputs",))
def mean(g: GraphBuilder, a: dict, *xs):
    """(x1 + ... + xn) / n, broadcasting; n = 1 is the identity."""
    out = xs[0]
    for x in xs[1:]:
        out = g.op("add", out, x)
    if len(xs) == 1:
        return out
    if is_const(out):
        return np.asarray(np.asarray(out) / np.asarray(len(xs), np.asarray(out).dtype))
    return g.op("divide", out, np.float32(len(xs)))

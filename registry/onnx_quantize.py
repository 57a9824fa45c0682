"""The ONNX frontend, quantized operators: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv, composed from the float32 / int32 ops.

Integer tensors (uint8 / int8 / uint16 / int16) live in wasm as int32 and the session casts outputs back to
the declared dtype, so every result here is an int32 holding a value already in the target's range.
Rounding is half to even (ONNX, onnxruntime): `(v + 1.5 * 2**23) - 1.5 * 2**23` rounds a float32 to the
nearest integer, ties to even, for |v| < 2**22 (larger values saturate anyway), as two separate kernel calls
so no compiler can fold them. Integer products are exact: operands minus their zero points are at most 255
in magnitude, so a float32 matmul / conv of them is exact while K * 255 * 255 < 2**24; longer sums are cut
into chunks along K whose int32 results are added. Zero points must be known at translation (constants, or
graph inputs the session specialises on) because their dtype fixes the output range; float8 / 4-bit /
2-bit types are refused.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from .graph import GraphBuilder, Value, is_const
from .onnx_ops import AttributeError_, F, _const, conv, onnx_op

_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767)}
_MAGIC = np.float32(1.5 * 2**23)  # adding it leaves the float32 spacing at 1: the sum is rounded, ties to even
_EXACT = 2**24  # float32 integers are exact below this
_BYTE = 255  # bound of |q - zero_point| for 8-bit operands (the ops' type constraints)


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name if not isinstance(dtype, str) else dtype


def _range(g: GraphBuilder, dtype_name: str, what: str) -> tuple[int, int]:
    if dtype_name not in _RANGES:
        raise AttributeError_(
            f"{g.label}: {what} {dtype_name} is not supported (supported: {', '.join(_RANGES)}; float8, int4, uint4, "
            "int2, uint2 and float4 are not)"
        )
    return _RANGES[dtype_name]


def _zero_point(g: GraphBuilder, zp, what: str) -> np.ndarray | None:
    """A zero point, known at translation (its dtype decides the output range); None if absent."""
    if zp is None:
        return None
    zp = np.asarray(_const(g.label, zp, what))
    _range(g, _dtype_name(zp.dtype), f"{what} dtype")
    return zp


def _offset(g: GraphBuilder, zp, what: str) -> Value | None:
    """A zero point only subtracted (its dtype does not matter): a constant, or an int32 tensor of the graph."""
    if zp is None:
        return None
    if is_const(zp):
        zp = np.asarray(zp)
        if zp.dtype != np.int32:
            _range(g, _dtype_name(zp.dtype), f"{what} dtype")
        return zp.astype(np.int32)
    if zp.dtype != np.int32:
        raise AttributeError_(f"{g.label}: {what} of dtype {zp.dtype} is not supported")
    return zp


def _f32(value: Value) -> Value:
    """float32 for constants of any float dtype (float16 scales); graph tensors already compute in float32."""
    return np.asarray(value, np.float32) if is_const(value) else value


def _broadcastable(g: GraphBuilder, p: Value, shape: tuple, axis: int, block: int, what: str) -> Value:
    """A scale / zero point laid out to broadcast against x: per tensor, per `axis`, or per block along it."""
    rank = len(shape)
    if block <= 0:
        if int(np.prod(p.shape)) == 1 and len(p.shape) <= 1:
            return p.reshape(())
        if len(p.shape) == 1 and p.shape[0] == shape[axis]:
            return p.reshape((shape[axis],) + (1,) * (rank - axis - 1))
        raise AttributeError_(f"{g.label}: {what} of shape {tuple(p.shape)} does not fit x {shape} along axis {axis}")
    blocks = -(-shape[axis] // block)
    want = shape[:axis] + (blocks,) + shape[axis + 1 :]
    if tuple(p.shape) != want:
        raise AttributeError_(f"{g.label}: {what} of shape {tuple(p.shape)} should be {want} for block_size {block}")
    if is_const(p):
        return np.take(np.repeat(np.asarray(p), block, axis=axis), np.arange(shape[axis]), axis=axis)
    if shape[axis] % block:
        raise AttributeError_(f"{g.label}: a blocked {what} computed at run time needs block_size to divide the axis")
    split = shape[:axis] + (blocks, 1) + shape[axis + 1 :]
    wide = g.op("broadcast_to", p.reshape(split), shape[:axis] + (blocks, block) + shape[axis + 1 :])
    return wide.reshape(shape)


def _round_add(g: GraphBuilder, v: Value, zp: Value | float) -> Value:
    """round_half_even(v) + zp, in float32 (exact while |v| < 2**22 and zp is a small integer)."""
    offset = np.float32(_MAGIC - np.asarray(zp, np.float32)) if is_const(zp) else g.op("subtract", _MAGIC, zp)
    return g.op("subtract", g.op("add", v, _MAGIC), offset)


def _saturate(g: GraphBuilder, v: Value, zp: Value | float, lo: int, hi: int) -> Value:
    """clip(round_half_even(v) + zp, lo, hi) as int32."""
    y = g.op("clip", _round_add(g, v, zp), min=float(lo), max=float(hi))
    return g.op("cast", y, dtype="int32")


def _centered(g: GraphBuilder, q: Value, zp: Value | None) -> Value:
    """q - zero_point as float32 (exact: both are small integers)."""
    if is_const(q):
        q = np.asarray(q)
        if q.dtype != np.int32:
            _range(g, _dtype_name(q.dtype), "quantized input dtype")
        q = q.astype(np.int32)
    elif q.dtype != np.int32:
        raise AttributeError_(f"{g.label}: quantized input of dtype {q.dtype} is not supported")
    if zp is not None and not (is_const(zp) and not np.any(zp)):
        q = g.op("subtract", q, zp if not is_const(zp) else np.asarray(zp).astype(np.int32))
    return g.op("cast", q, dtype="float32")


def _bound(v: Value) -> int:
    """The largest |value| of a centered operand: exact for constants, the 8-bit bound for tensors."""
    if is_const(v):
        return max(int(np.abs(np.asarray(v)).max(initial=0)), 1)
    return _BYTE


def _int_matmul(g: GraphBuilder, a: Value, b: Value) -> Value:
    """a @ b of centered float32 integers, exact, as int32: chunks along K keep every float32 sum below 2**24."""
    k = a.shape[-1]
    chunk = max((_EXACT - 1) // (_bound(a) * _bound(b)), 1)
    total = None
    for start in range(0, k, chunk):
        stop = min(start + chunk, k)
        a_k = a if (start, stop) == (0, k) else g.op("slice", a, [start], [stop], axes=[len(a.shape) - 1])
        b_k = b if (start, stop) == (0, k) else g.op("slice", b, [start], [stop], axes=[len(b.shape) - 2])
        if is_const(b_k) and len(b_k.shape) == 2 and not is_const(a_k):
            part = g.op("dense", a_k, np.ascontiguousarray(np.asarray(b_k).T))  # weights packed once
        else:
            part = g.op("matmul", a_k, b_k)
        part = g.op("cast", part, dtype="int32")
        total = part if total is None else g.op("add", total, part)
    return total


def _row_param(p: Value | None, a_shape: tuple) -> Value | None:
    """A's per-row (M,) zero point or scale as (M, 1); per-tensor values as 0-d."""
    if p is None:
        return None
    if int(np.prod(p.shape)) == 1:
        return p.reshape(())
    if len(p.shape) == 1 and len(a_shape) >= 2 and p.shape[0] == a_shape[-2]:
        return p.reshape((p.shape[0], 1))
    return p


# ---- QuantizeLinear / DequantizeLinear ---------------------------------------------------------------------
@onnx_op(F, "QuantizeLinear", 10, ("axis", "block_size", "output_dtype", "saturate"))
def quantize_linear(g: GraphBuilder, a: dict, x, scale, zp=None):
    """y = saturate(round_half_even(x / scale) + zero_point), per tensor, per axis or per block."""
    zp = _zero_point(g, zp, "QuantizeLinear y_zero_point")
    if "output_dtype" in a and int(a["output_dtype"]):
        target = _dtype_name(helper.tensor_dtype_to_np_dtype(int(a["output_dtype"])))
        if zp is not None and _dtype_name(zp.dtype) != target:
            raise AttributeError_(f"{g.label}: output_dtype {target} differs from y_zero_point's {zp.dtype}")
    else:
        target = "uint8" if zp is None else _dtype_name(zp.dtype)
    lo, hi = _range(g, target, "QuantizeLinear output dtype")
    shape = tuple(x.shape)
    axis, block = int(a.get("axis", 1)), int(a.get("block_size", 0))
    if shape:
        axis %= len(shape)
    scale = _broadcastable(g, _f32(scale), shape, axis, block, "y_scale")
    zp_f = 0.0 if zp is None else _broadcastable(g, zp.astype(np.float32), shape, axis, block, "y_zero_point")
    return _saturate(g, g.op("divide", _f32(x), scale), zp_f, lo, hi)


@onnx_op(F, "DequantizeLinear", 10, ("axis", "block_size"))
def dequantize_linear(g: GraphBuilder, a: dict, x, scale, zp=None):
    """y = (x - zero_point) * scale, per tensor, per axis or per block."""
    zp = _offset(g, zp, "DequantizeLinear x_zero_point")
    shape = tuple(x.shape)
    axis, block = int(a.get("axis", 1)), int(a.get("block_size", 0))
    if shape:
        axis %= len(shape)
    scale = _broadcastable(g, _f32(scale), shape, axis, block, "x_scale")
    zp = None if zp is None else _broadcastable(g, zp, shape, axis, block, "x_zero_point")
    return g.op("multiply", _centered(g, x, zp), scale)


@onnx_op(F, "DynamicQuantizeLinear", 11)
def dynamic_quantize_linear(g: GraphBuilder, a: dict, x):
    """uint8 y, y_scale, y_zero_point from x's range widened to include 0 (the ONNX formula)."""
    x = _f32(x)
    lo = g.op("minimum", g.op("neg", g.op("max", g.op("neg", x))), np.float32(0))
    hi = g.op("maximum", g.op("max", x), np.float32(0))
    span = g.op("subtract", hi, lo)
    span = g.op("where", g.op("equal", span, np.float32(0)), np.float32(1), span)  # all zeros: scale 1 / 255
    scale = g.op("divide", span, np.float32(255))
    zp_f = g.op("clip", _round_add(g, g.op("divide", g.op("neg", lo), scale), 0.0), min=0.0, max=255.0)
    y = _saturate(g, g.op("divide", x, scale), zp_f, 0, 255)
    return [y, scale, g.op("cast", zp_f, dtype="int32")]


# ---- integer matmul / conv ----------------------------------------------------------------------------------
@onnx_op(F, "MatMulInteger", 10)
def matmul_integer(g: GraphBuilder, a: dict, x, w, x_zp=None, w_zp=None):
    """(A - a_zero_point) @ (B - b_zero_point) in int32 (per-row A and per-column B zero points)."""
    x_zp, w_zp = _offset(g, x_zp, "a_zero_point"), _offset(g, w_zp, "b_zero_point")
    return _int_matmul(g, _centered(g, x, _row_param(x_zp, tuple(x.shape))), _centered(g, w, w_zp))


@onnx_op(F, "QLinearMatMul", 10)
def qlinear_matmul(g: GraphBuilder, a: dict, x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp):
    """saturate(round((A - a_zp) @ (B - b_zp) * a_scale * b_scale / y_scale) + y_zp)."""
    x_zp, w_zp = _offset(g, x_zp, "a_zero_point"), _offset(g, w_zp, "b_zero_point")
    y_zp = _zero_point(g, y_zp, "y_zero_point")
    lo, hi = _range(g, _dtype_name(y_zp.dtype), "y_zero_point dtype")
    acc = _int_matmul(g, _centered(g, x, _row_param(x_zp, tuple(x.shape))), _centered(g, w, w_zp))
    x_scale = _row_param(x_scale, tuple(x.shape))
    mult = _multiplier(g, x_scale, w_scale, y_scale)
    return _saturate(g, g.op("multiply", g.op("cast", acc, dtype="float32"), mult), y_zp.astype(np.float32), lo, hi)


def _multiplier(g: GraphBuilder, s1, s2, s_out) -> Value:
    """s1 * s2 / s_out, in the scales' own dtype when they are constants (as the ONNX reference computes it)."""
    if is_const(s1) and is_const(s2) and is_const(s_out):
        return (np.asarray(s1) * np.asarray(s2) / np.asarray(s_out)).astype(np.float32)
    return g.op("divide", g.op("multiply", _f32(s1), _f32(s2)), _f32(s_out))


_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def _int_conv(g: GraphBuilder, a: dict, x, w, x_zp, w_zp) -> Value:
    """conv(x - x_zp, w - w_zp) as exact int32, chunked over input channels if the sums could pass 2**24."""
    if x_zp is not None and int(np.prod(x_zp.shape)) != 1:
        raise AttributeError_(f"{g.label}: x_zero_point must be a scalar, got shape {tuple(x_zp.shape)}")
    if w_zp is not None and np.size(w_zp) > 1:
        w_zp = np.asarray(w_zp).reshape((-1,) + (1,) * (len(w.shape) - 1))
    xc = _centered(g, x, None if x_zp is None else x_zp.reshape(()))
    wc = _centered(g, w, w_zp)
    if not is_const(wc):
        raise AttributeError_(f"{g.label}: the weight must be a constant (an initializer)")
    group = int(a.get("group", 1))
    per_out = int(np.prod(wc.shape[1:]))
    chunk_c = max((_EXACT - 1) // (_bound(xc) * _bound(wc) * int(np.prod(wc.shape[2:]))), 1)
    if per_out * _bound(xc) * _bound(wc) < _EXACT:
        return g.op("cast", conv(g, a, xc, wc), dtype="int32")
    if group != 1:
        raise AttributeError_(f"{g.label}: grouped integer convolution with sums beyond 2**24 is not supported")
    total = None
    for start in range(0, wc.shape[1], chunk_c):
        stop = min(start + chunk_c, wc.shape[1])
        part = conv(g, a, g.op("slice", xc, [start], [stop], axes=[1]), np.ascontiguousarray(wc[:, start:stop]))
        part = g.op("cast", part, dtype="int32")
        total = part if total is None else g.op("add", total, part)
    return total


@onnx_op(F, "ConvInteger", 10, _CONV_ATTRS)
def conv_integer(g: GraphBuilder, a: dict, x, w, x_zp=None, w_zp=None):
    """conv(x - x_zero_point, w - w_zero_point) in int32 (per-output-channel w zero points)."""
    x_zp, w_zp = _offset(g, x_zp, "x_zero_point"), _offset(g, _const(g.label, w_zp, "w_zero_point"), "w_zero_point")
    return _int_conv(g, a, x, _const(g.label, w, "ConvInteger w"), x_zp, w_zp)


@onnx_op(F, "QLinearConv", 10, _CONV_ATTRS)
def qlinear_conv(g: GraphBuilder, a: dict, x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias=None):
    """saturate(round((conv(x - x_zp, w - w_zp) + B) * x_scale * w_scale / y_scale) + y_zp)."""
    x_zp, w_zp = _offset(g, x_zp, "x_zero_point"), _offset(g, _const(g.label, w_zp, "w_zero_point"), "w_zero_point")
    y_zp = _zero_point(g, y_zp, "y_zero_point")
    if np.size(y_zp) != 1:
        raise AttributeError_(f"{g.label}: y_zero_point must be a scalar, got shape {np.shape(y_zp)}")
    lo, hi = _range(g, _dtype_name(y_zp.dtype), "y_zero_point dtype")
    w = _const(g.label, w, "QLinearConv w")
    acc = _int_conv(g, a, x, w, x_zp, w_zp)
    spatial = (1,) * (len(x.shape) - 2)
    if bias is not None:
        bias = np.asarray(_const(g.label, bias, "QLinearConv B"), np.int64)
        if np.abs(bias).max(initial=0) >= 2**31:
            raise AttributeError_(f"{g.label}: QLinearConv B does not fit int32")
        acc = g.op("add", acc, bias.astype(np.int32).reshape((-1,) + spatial))
    if not is_const(w_scale) or np.size(w_scale) == 1:
        w_scale = w_scale.reshape(()) if np.size(w_scale) == 1 else w_scale
    else:
        w_scale = np.asarray(w_scale).reshape((-1,) + spatial)
    mult = _multiplier(g, x_scale if is_const(x_scale) else x_scale.reshape(()), w_scale, y_scale)
    v = g.op("multiply", g.op("cast", acc, dtype="float32"), mult)
    return _saturate(g, v, y_zp.astype(np.float32).reshape(()), lo, hi)

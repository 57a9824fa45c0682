"""The ONNX frontend, part two: constants, shapes and layout (Reshape, Concat, Transpose, Gather, ...).

Shapes are static once the input shapes are known, so Shape and the integer arithmetic that usually
follows it fold to constants at load; Reshape / Flatten / (Un)Squeeze / Identity / Dropout alias buffers.
"""

from __future__ import annotations

import math

import numpy as np
from onnx import helper, numpy_helper

from . import dtypes
from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op


@onnx_op(F, "Constant", 1, ("value", "value_float", "value_floats", "value_int", "value_ints"))
def constant(g: GraphBuilder, a: dict):
    if "value" in a:
        return numpy_helper.to_array(a["value"])
    for key, dtype in (
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in a:
            return np.asarray(a[key], dtype)
    raise AttributeError_(f"{g.label}: Constant without a supported value attribute")


@onnx_op(F, "ConstantOfShape", 9, ("value",))
def constant_of_shape(g: GraphBuilder, a: dict, shape):
    value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
    return np.full(_ints(_const(g.label, shape, "ConstantOfShape shape")), value.reshape(-1)[0], value.dtype)


@onnx_op(F, "Shape", 1, ("start", "end"))
def shape(g: GraphBuilder, a: dict, x):
    dims = np.asarray(x.shape, np.int64)
    return dims[int(a.get("start", 0)) : a.get("end")]


@onnx_op(F, "Identity", 1)
def identity(g: GraphBuilder, a: dict, x):
    return x


@onnx_op(F, "Dropout", 1, ("ratio", "is_test", "seed", "consumed_inputs", "training_mode"))
def dropout(g: GraphBuilder, a: dict, x, ratio=None, training=None):
    """Inference: the identity (and an all-true mask if asked for)."""
    if training is not None and bool(np.asarray(_const(g.label, training, "Dropout training_mode"))):
        raise AttributeError_(f"{g.label}: Dropout in training mode is not supported")
    return [x, np.ones(x.shape, bool)]


@onnx_op(F, "Reshape", 1, ("shape", "consumed_inputs"))
def reshape_v1(g: GraphBuilder, a: dict, x):
    return _reshape(x, _ints(a["shape"]), allowzero=False)


@onnx_op(F, "Reshape", 5, ("allowzero",))
def reshape(g: GraphBuilder, a: dict, x, shape):
    return _reshape(x, _ints(_const(g.label, shape, "Reshape shape")), bool(a.get("allowzero", 0)))


def _reshape(x, dims: list[int], allowzero: bool):
    dims = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    return x.reshape(tuple(dims))


@onnx_op(F, "Flatten", 1, ("axis",))
def flatten(g: GraphBuilder, a: dict, x):
    rank, axis = len(x.shape), int(a.get("axis", 1))
    if not -rank <= axis <= rank:
        raise AttributeError_(f"{g.label}: Flatten axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    return x.reshape((math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))


def _unsqueeze(x, axes: list[int]):
    rank = len(x.shape) + len(axes)
    axes = sorted(a % rank for a in axes)
    dims = list(x.shape)
    for ax in axes:
        dims.insert(ax, 1)
    return x.reshape(tuple(dims))


def _squeeze(g: GraphBuilder, x, axes: list[int] | None):
    rank = len(x.shape)
    axes = [i for i, d in enumerate(x.shape) if d == 1] if axes is None else [a % rank for a in axes]
    if any(x.shape[ax] != 1 for ax in axes):
        raise AttributeError_(f"{g.label}: cannot squeeze axes {axes} of shape {x.shape}")
    return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))


onnx_op(F, "Unsqueeze", 1, ("axes",))(lambda g, a, x: _unsqueeze(x, _ints(a["axes"])))
onnx_op(F, "Unsqueeze", 13)(lambda g, a, x, axes: _unsqueeze(x, _ints(_const(g.label, axes, "Unsqueeze axes"))))
onnx_op(F, "Squeeze", 1, ("axes",))(lambda g, a, x: _squeeze(g, x, _ints(a["axes"]) if "axes" in a else None))
onnx_op(F, "Squeeze", 13)(
    lambda g, a, x, axes=None: _squeeze(g, x, None if axes is None else _ints(_const(g.label, axes, "axes")))
)


@onnx_op(F, "Transpose", 1, ("perm",))
def transpose(g: GraphBuilder, a: dict, x):
    return g.op("transpose", x, tuple(_ints(a["perm"])) if "perm" in a else None)


@onnx_op(F, "Tile", 6)
def tile(g: GraphBuilder, a: dict, x, repeats):
    """Tile as a broadcast: (d0, d1, ...) viewed as (1, d0, 1, d1, ...), broadcast to (r0, d0, r1, d1, ...)."""
    reps = _ints(_const(g.label, repeats, "Tile repeats"))
    if is_const(x):
        return np.tile(x, reps)
    if len(reps) != len(x.shape) or any(r < 0 for r in reps):
        raise AttributeError_(f"{g.label}: Tile repeats {reps} do not fit input shape {x.shape}")
    if (
        sum(r != 1 for r in reps) > 3 and 0 not in reps
    ):  # the broadcast would leave too many unmergeable dims: copy per axis
        for axis, r in enumerate(reps):
            x = x if r == 1 else g.op("concatenate", [x] * r, axis=axis)
        return x
    interleaved = tuple(v for d in x.shape for v in (1, d))
    target = tuple(v for r, d in zip(reps, x.shape, strict=True) for v in (r, d))
    y = g.op("broadcast_to", x.reshape(interleaved), target)
    return y.reshape(tuple(r * d for r, d in zip(reps, x.shape, strict=True)))


@onnx_op(F, "Concat", 1, ("axis",))
def concat(g: GraphBuilder, a: dict, *xs):
    axis = int(a.get("axis", 1))
    if all(is_const(x) for x in xs):  # shape arithmetic: int64 constants, numpy semantics
        return np.concatenate([np.asarray(x) for x in xs], axis=axis)
    return g.op("concatenate", list(xs), axis=axis)


def _cast_to(g: GraphBuilder, x, dtype: np.dtype):
    """x.astype(dtype); tensors convert to the dtype `dtype` computes in (registry/dtypes.py)."""
    why = dtypes.refusal(dtype.name)
    if is_const(x):
        if why and dtype.kind not in "f":
            raise AttributeError_(f"{g.label}: cast to {why}")
        return np.asarray(x).astype(dtype)
    if why:
        raise AttributeError_(f"{g.label}: cast to {why}")
    target = dtypes.compute_dtype(dtype)
    if target == x.dtype:
        return x  # e.g. int32 -> int64, float32 -> float16 (storage only)
    return g.op("cast", x, dtype=target.name)


def _onnx_np_dtype(g: GraphBuilder, to: int) -> np.dtype:
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(int(to)))
    except (KeyError, TypeError, ValueError):
        raise AttributeError_(f"{g.label}: cast to ONNX type {to} is not supported") from None


@onnx_op(F, "Cast", 1, ("to", "saturate", "round_mode"))
def cast(g: GraphBuilder, a: dict, x):
    if a.get("round_mode", b"up") not in (b"up", "up"):
        raise AttributeError_(f"{g.label}: Cast round_mode={a['round_mode']!r} is not supported")
    return _cast_to(g, x, _onnx_np_dtype(g, a["to"]))


@onnx_op(F, "CastLike", 15, ("saturate", "round_mode"))
def cast_like(g: GraphBuilder, a: dict, x, like):
    """Cast x to the dtype of `like` (a tensor of float16 computes in float32, so its compute dtype is it)."""
    return _cast_to(g, x, np.dtype(like.dtype))


@onnx_op(F, "Size", 1)
def size(g: GraphBuilder, a: dict, x):
    return np.asarray(math.prod(x.shape), np.int64)


@onnx_op(F, "Range", 11)
def range_(g: GraphBuilder, a: dict, start, limit, delta):
    """Host-side: the bounds are constants, folded shape arithmetic or specialised graph inputs."""
    start, limit, delta = (
        np.asarray(_const(g.label, v, f"Range {w}")) for v, w in ((start, "start"), (limit, "limit"), (delta, "delta"))
    )
    if delta == 0:
        raise AttributeError_(f"{g.label}: Range delta is 0")
    n = max(int(np.ceil((limit.astype(np.float64) - start) / delta)), 0)
    return (start + np.arange(n, dtype=start.dtype) * delta).astype(start.dtype)


@onnx_op(F, "Pad", 2, ("pads", "mode", "value"))
def pad_v2(g: GraphBuilder, a: dict, x):
    return _pad(g, x, _ints(a["pads"]), float(a.get("value", 0.0)), a.get("mode", b"constant"))


@onnx_op(F, "Pad", 11, ("mode",))
def pad(g: GraphBuilder, a: dict, x, pads, value=None, axes=None):
    if axes is not None:
        raise AttributeError_(f"{g.label}: Pad with an axes input is not supported")
    fill = 0.0 if value is None else float(np.asarray(_const(g.label, value, "Pad value")).reshape(-1)[0])
    return _pad(g, x, _ints(_const(g.label, pads, "Pad pads")), fill, a.get("mode", b"constant"))


def _pad(g: GraphBuilder, x, pads: list[int], value: float, mode):
    mode = mode.decode() if isinstance(mode, bytes) else mode
    rank = len(x.shape)
    width = [(pads[i], pads[i + rank]) for i in range(rank)]
    if mode != "constant":
        return g.op("pad_mode", x, width, mode=mode)
    return g.op("pad", x, width, constant_value=value)

"""The ONNX frontend: selections whose positions are known on the host (Compress, ReverseSequence, EyeLike).

The selecting inputs (condition, sequence_lens) are read with `_const`: constants, or graph inputs the session
specialises the program on. The selection then becomes `take` with an index array built here, so nothing is
read out of range at run time (every index is checked against the shape at translation).
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op


@onnx_op(F, "Compress", 9, ("axis",))
def compress(g: GraphBuilder, a: dict, x, condition):
    """Keep the slices of x along `axis` (x flattened when no axis) whose condition entry is true."""
    cond = np.asarray(_const(g.label, condition, "Compress condition")).reshape(-1).astype(bool)
    if "axis" in a:
        rank, axis = len(x.shape), int(a["axis"])
        if not -rank <= axis < rank:
            raise AttributeError_(f"{g.label}: Compress axis {axis} is out of range for rank {rank}")
        axis %= rank
    else:
        x, axis = x.reshape((int(np.prod(x.shape)),)), 0
    dim = x.shape[axis]
    if cond[dim:].any():
        raise AttributeError_(
            f"{g.label}: Compress condition selects index {int(np.argmax(cond[dim:])) + dim} "
            f"past the end of axis {axis} (size {dim})"
        )
    picked = np.flatnonzero(cond[:dim])
    if is_const(x):
        return np.take(np.asarray(x), picked, axis=axis)
    if picked.size == 0:
        return np.zeros(tuple(x.shape[:axis]) + (0,) + tuple(x.shape[axis + 1 :]), x.dtype)
    return g.op("take", x, picked.astype(np.int32), axis=axis)


@onnx_op(F, "ReverseSequence", 10, ("batch_axis", "time_axis"))
def reverse_sequence(g: GraphBuilder, a: dict, x, sequence_lens):
    """Reverse the first sequence_lens[b] entries along time_axis of every batch entry b."""
    lens = _ints(_const(g.label, sequence_lens, "ReverseSequence sequence_lens"))
    batch_axis, time_axis = int(a.get("batch_axis", 1)), int(a.get("time_axis", 0))
    if {batch_axis, time_axis} != {0, 1}:
        raise AttributeError_(
            f"{g.label}: ReverseSequence batch_axis {batch_axis} / time_axis {time_axis} must be 0 and 1"
        )
    if len(x.shape) < 2:
        raise AttributeError_(f"{g.label}: ReverseSequence needs rank >= 2, got {x.shape}")
    batch, steps = x.shape[batch_axis], x.shape[time_axis]
    if len(lens) != batch or any(not 0 <= n <= steps for n in lens):
        raise AttributeError_(
            f"{g.label}: ReverseSequence sequence_lens {lens} do not fit batch {batch} and {steps} time steps"
        )
    rows = []
    for b, n in enumerate(lens):
        order = np.concatenate([np.arange(n - 1, -1, -1), np.arange(n, steps)]).astype(np.int32)
        row = g.op("slice", x, [b], [b + 1], axes=[batch_axis]) if batch > 1 else x
        rows.append(row if n <= 1 else g.op("take", row, order, axis=time_axis))
    if all(is_const(r) for r in rows):
        return np.concatenate([np.asarray(r) for r in rows], axis=batch_axis)
    return rows[0] if batch == 1 else g.op("concatenate", rows, axis=batch_axis)


@onnx_op(F, "EyeLike", 9, ("dtype", "k"))
def eye_like(g: GraphBuilder, a: dict, x):
    """Ones on diagonal k of a matrix shaped like x: a constant, known from the shape alone."""
    if len(x.shape) != 2:
        raise AttributeError_(f"{g.label}: EyeLike needs a 2-D input, got {x.shape}")
    if "dtype" in a:
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(int(a["dtype"])))
        except (KeyError, TypeError, ValueError):
            raise AttributeError_(f"{g.label}: EyeLike dtype {a['dtype']} is not supported") from None
    else:
        dtype = np.dtype(x.dtype)
    return np.eye(x.shape[0], x.shape[1], int(a.get("k", 0)), dtype=dtype)

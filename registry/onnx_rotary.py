"""The ONNX frontend, RotaryEmbedding (opset 23) as slices, broadcast multiplies and a concatenate.

The rotated part of each head is split in halves (or in even / odd lanes when interleaved, through a
(..., half, 2) view), rotated by the cos / sin caches (looked up with `take` when position_ids is given)
and joined back with the untouched tail of the head.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, onnx_op


def _last(g: GraphBuilder, x, start: int, stop: int):
    return g.op("slice", x, [start], [stop], axes=[len(x.shape) - 1])


@onnx_op(F, "RotaryEmbedding", 23, ("interleaved", "rotary_embedding_dim", "num_heads"))
def rotary_embedding(g: GraphBuilder, a: dict, x, cos, sin, position_ids=None):
    """x: (B, H, S, D), or (B, S, H * D) with num_heads; caches (positions, rd / 2) or, without ids, (B, S, rd / 2)."""
    if len(x.shape) == 4:
        batch, _, seq, head = x.shape
        x4, cache_shape = x, None
    elif len(x.shape) == 3:
        heads = int(a.get("num_heads", 0))
        batch, seq, hidden = x.shape
        if heads <= 0 or hidden % heads:
            raise AttributeError_(f"{g.label}: 3-D input {x.shape} needs num_heads dividing {hidden}, got {heads}")
        head = hidden // heads
        x4, cache_shape = x.reshape((batch, seq, heads, head)), (batch, seq, 1, -1)
    else:
        raise AttributeError_(f"{g.label}: input must be 3-D or 4-D, got {x.shape}")
    rd = int(a.get("rotary_embedding_dim", 0)) or head
    if rd % 2 or rd > head:
        raise AttributeError_(f"{g.label}: rotary_embedding_dim {rd} must be even and at most the head size {head}")
    half = rd // 2
    if position_ids is not None:
        if is_const(position_ids):
            ids = np.asarray(position_ids)
            if ids.size and (ids.min() < 0 or ids.max() >= cos.shape[0]):
                raise AttributeError_(f"{g.label}: position_ids outside [0, {cos.shape[0]})")
            position_ids = ids.astype(np.int32)
        cos, sin = g.op("take", cos, position_ids, axis=0), g.op("take", sin, position_ids, axis=0)
    if tuple(cos.shape) != (batch, seq, half) or tuple(sin.shape) != (batch, seq, half):
        raise AttributeError_(
            f"{g.label}: cos / sin caches give {cos.shape}, {sin.shape}; expected ({batch}, {seq}, {half})"
        )
    lead = cache_shape or (batch, 1, seq, half)
    cos, sin = cos.reshape(lead), sin.reshape(lead)
    rot = x4 if rd == head else _last(g, x4, 0, rd)
    if int(a.get("interleaved", 0)):
        pairs = rot.reshape((*rot.shape[:-1], half, 2))
        x1 = _last(g, pairs, 0, 1).reshape((*rot.shape[:-1], half))
        x2 = _last(g, pairs, 1, 2).reshape((*rot.shape[:-1], half))
    else:
        x1, x2 = _last(g, rot, 0, half), _last(g, rot, half, rd)
    real = g.op("subtract", g.op("multiply", cos, x1), g.op("multiply", sin, x2))
    imag = g.op("add", g.op("multiply", sin, x1), g.op("multiply", cos, x2))
    if int(a.get("interleaved", 0)):
        pair_shape = (*real.shape, 1)
        rotated = g.op("concatenate", [real.reshape(pair_shape), imag.reshape(pair_shape)], axis=-1)
        rotated = rotated.reshape((*real.shape[:-1], rd))
    else:
        rotated = g.op("concatenate", [real, imag], axis=-1)
    out = rotated if rd == head else g.op("concatenate", [rotated, _last(g, x4, rd, head)], axis=-1)
    return out.reshape(x.shape)

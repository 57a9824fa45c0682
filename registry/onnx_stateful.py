"""The ONNX frontend: cache and state operators of decoder models (opsets 24-27), as compositions.

CausalConvWithState is concatenate (carried state, input) + a depthwise conv2d over a unit height + a slice for
the new state. TensorScatter writes an update into a KV cache at per-batch positions known on the host (constants
or specialised graph inputs): each batch row becomes slices of the cache and the update, concatenated.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_nn_ops import _str
from .onnx_ops import AttributeError_, F, _const, _ints, onnx_op


@onnx_op(F, "CausalConvWithState", 27, ("activation",))
def causal_conv_with_state(g: GraphBuilder, a: dict, x, weight, bias=None, past_state=None):
    """x (B, C, L), weight (C, 1, k), bias (C,), past_state (B, C, k - 1) -> output (B, C, L), present_state."""
    activation = _str(a.get("activation"), "none")
    if activation not in ("none", "silu", "swish"):
        raise AttributeError_(f"{g.label}: CausalConvWithState activation={activation!r} is not supported")
    if len(x.shape) != 3 or len(weight.shape) != 3:
        raise AttributeError_(
            f"{g.label}: CausalConvWithState needs rank-3 input and weight, got {x.shape}, {weight.shape}"
        )
    n, c, length = x.shape
    k = weight.shape[2]
    if tuple(weight.shape[:2]) != (c, 1) or k < 1:
        raise AttributeError_(f"{g.label}: CausalConvWithState weight {weight.shape} is not ({c}, 1, k)")
    if bias is not None and tuple(bias.shape) != (c,):
        raise AttributeError_(f"{g.label}: CausalConvWithState bias {bias.shape} is not ({c},)")
    if past_state is None:
        past_state = np.zeros((n, c, k - 1), np.float32)
    elif tuple(past_state.shape) != (n, c, k - 1):
        raise AttributeError_(f"{g.label}: CausalConvWithState past_state {past_state.shape} is not {(n, c, k - 1)}")
    padded = x if k == 1 else g.op("concatenate", [past_state, x], axis=2)
    y = g.op(
        "conv2d",
        padded.reshape((n, c, 1, length + k - 1)),
        weight.reshape((c, 1, 1, k)),
        bias,
        stride=(1, 1),
        padding=(0, 0, 0, 0),
        dilation=(1, 1),
        groups=c,
    ).reshape((n, c, length))
    if activation != "none":
        y = g.op("silu", y)
    if k == 1:
        present = np.zeros((n, c, 0), np.float32)
    else:
        present = g.op("slice", padded, [length], [length + k - 1], axes=[2])
    return [y, present]


def _runs(positions: list[int]) -> list[tuple[int, int, int]]:
    """Consecutive runs of update rows per cache row: (first cache row, first update row, length)."""
    runs: list[tuple[int, int, int]] = []
    for j, p in enumerate(positions):
        if runs and runs[-1][0] + runs[-1][2] == p:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((p, j, 1))
    return runs


@onnx_op(F, "TensorScatter", 24, ("mode", "axis"))
def tensor_scatter(g: GraphBuilder, a: dict, cache, update, write_indices=None):
    """present = cache with update[b, ..., j, ...] written at cache row write_indices[b] + j along `axis`."""
    mode = _str(a.get("mode"), "linear")
    if mode not in ("linear", "circular"):
        raise AttributeError_(f"{g.label}: TensorScatter mode={mode!r} is not supported")
    rank = len(cache.shape)
    axis = int(a.get("axis", -2))
    if not -rank <= axis < rank or axis % rank == 0:
        raise AttributeError_(f"{g.label}: TensorScatter axis {axis} is not a non-batch axis of rank {rank}")
    axis %= rank
    if len(update.shape) != rank or any(
        u != c for i, (u, c) in enumerate(zip(update.shape, cache.shape, strict=True)) if i != axis
    ):
        raise AttributeError_(f"{g.label}: TensorScatter update {update.shape} does not fit cache {cache.shape}")
    size, count, batch = cache.shape[axis], update.shape[axis], cache.shape[0]
    if count > size:
        raise AttributeError_(f"{g.label}: TensorScatter update has {count} rows along axis {axis}, cache {size}")
    if write_indices is None:
        starts = [0] * batch
    else:
        starts = _ints(_const(g.label, write_indices, "TensorScatter write_indices"))
        if len(starts) != batch:
            raise AttributeError_(f"{g.label}: TensorScatter write_indices has {len(starts)} entries, batch {batch}")
    rows = []
    for b in range(batch):
        positions = [starts[b] + j for j in range(count)]
        if mode == "circular":
            positions = [p % size for p in positions]
        if any(not 0 <= p < size for p in positions):
            raise AttributeError_(
                f"{g.label}: TensorScatter write index {starts[b]} of batch {b} writes {count} rows outside "
                f"the cache's {size}"
            )
        src_cache = g.op("slice", cache, [b], [b + 1], axes=[0]) if batch > 1 else cache
        src_update = g.op("slice", update, [b], [b + 1], axes=[0]) if batch > 1 else update
        parts, at = [], 0
        for first, j, n in sorted(_runs(positions)):
            if first > at:
                parts.append(g.op("slice", src_cache, [at], [first], axes=[axis]))
            parts.append(g.op("slice", src_update, [j], [j + n], axes=[axis]) if n != count else src_update)
            at = first + n
        if at < size:
            parts.append(g.op("slice", src_cache, [at], [size], axes=[axis]))
        rows.append(parts[0] if len(parts) == 1 else g.op("concatenate", parts, axis=axis))
    if all(is_const(r) for r in rows):
        return np.concatenate([np.asarray(r) for r in rows], axis=0)
    return rows[0] if batch == 1 else g.op("concatenate", rows, axis=0)

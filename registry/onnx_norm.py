"""The ONNX frontend, normalisations built from existing ops: RMSNormalization, GroupNormalization,
MeanVarianceNormalization and LpNormalization.

Each is a short chain of reductions (mean / sum over trailing or listed axes, keepdims) and broadcast
elementwise ops; where rows are contiguous the fused `layer_norm` kernel does the normalising.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder
from .onnx_ops import AttributeError_, F, _ints, onnx_op

_F32 = np.float32


def _axis(g: GraphBuilder, value: int, rank: int, what: str = "axis") -> int:
    if not -rank <= value < rank:
        raise AttributeError_(f"{g.label}: {what} {value} is out of range for rank {rank}")
    return value % rank


def _stash(g: GraphBuilder, a: dict) -> None:
    if int(a.get("stash_type", 1)) != 1:
        raise AttributeError_(f"{g.label}: stash_type {a['stash_type']} is not supported (only 1, float32)")


@onnx_op(F, "RMSNormalization", 23, ("axis", "epsilon", "stash_type"))
def rms_norm(g: GraphBuilder, a: dict, x, scale):
    """x / sqrt(mean(x^2 over axes [axis, rank)) + epsilon) * scale."""
    _stash(g, a)
    axis = _axis(g, int(a.get("axis", -1)), len(x.shape))
    axes = tuple(range(axis, len(x.shape)))
    ms = g.op("mean", g.op("multiply", x, x), axis=axes, keepdims=True)
    inv = g.op("divide", _F32(1), g.op("sqrt", g.op("add", ms, _F32(float(a.get("epsilon", 1e-5))))))
    return g.op("multiply", g.op("multiply", x, inv), scale)


def _group_norm(g: GraphBuilder, a: dict, x, scale, bias, per_group: bool):
    groups = int(a["num_groups"])
    n, c = x.shape[0], x.shape[1]
    if groups <= 0 or c % groups:
        raise AttributeError_(f"{g.label}: num_groups {groups} does not divide the {c} channels")
    want = groups if per_group else c
    if tuple(scale.shape) != (want,) or tuple(bias.shape) != (want,):
        raise AttributeError_(f"{g.label}: scale and bias must have shape ({want},), got {scale.shape}, {bias.shape}")
    rows = g.op("layer_norm", x.reshape((n * groups, -1)), epsilon=float(a.get("epsilon", 1e-5)))
    spatial = (1,) * (len(x.shape) - 2)
    if per_group:  # opset 18: one scale per group, applied on the (N, G, C/G * spatial) view
        y = rows.reshape((n, groups, -1))
        y = g.op("add", g.op("multiply", y, scale.reshape((groups, 1))), bias.reshape((groups, 1)))
        return y.reshape(x.shape)
    y = rows.reshape(x.shape)
    return g.op("add", g.op("multiply", y, scale.reshape((c,) + spatial)), bias.reshape((c,) + spatial))


onnx_op(F, "GroupNormalization", 18, ("epsilon", "num_groups"))(
    lambda g, a, x, scale, bias: _group_norm(g, a, x, scale, bias, per_group=True)
)


@onnx_op(F, "GroupNormalization", 21, ("epsilon", "num_groups", "stash_type"))
def group_norm(g: GraphBuilder, a: dict, x, scale, bias):
    """Normalise each (n, group) slice, then a per-channel affine (opset 21: scale and bias have C values)."""
    _stash(g, a)
    return _group_norm(g, a, x, scale, bias, per_group=False)


@onnx_op(F, "MeanVarianceNormalization", 9, ("axes",))
def mean_variance_norm(g: GraphBuilder, a: dict, x):
    """(x - mean) / (std + 1e-9) over `axes` (default N, H, W), as the ONNX function body."""
    axes = tuple(sorted({_axis(g, ax, len(x.shape), "axes entry") for ax in _ints(a.get("axes", [0, 2, 3]))}))
    mean = g.op("mean", x, axis=axes, keepdims=True)
    centred = g.op("subtract", x, mean)
    std = g.op("sqrt", g.op("mean", g.op("multiply", centred, centred), axis=axes, keepdims=True))
    return g.op("divide", centred, g.op("add", std, _F32(1e-9)))


@onnx_op(F, "LpNormalization", 1, ("axis", "p"))
def lp_norm(g: GraphBuilder, a: dict, x):
    """x / ||x||_p along `axis` (p = 1 or 2); a zero norm gives 0, as the ONNX reference."""
    p = int(a.get("p", 2))
    if p not in (1, 2):
        raise AttributeError_(f"{g.label}: LpNormalization p={p} is not supported (only 1 and 2)")
    axis = _axis(g, int(a.get("axis", -1)), len(x.shape))
    if p == 1:
        norm = g.op("sum", g.op("abs", x), axis=(axis,), keepdims=True)
    else:
        norm = g.op("sqrt", g.op("sum", g.op("multiply", x, x), axis=(axis,), keepdims=True))
    zero = g.op("equal", norm, _F32(0))
    return g.op("where", zero, _F32(0), g.op("divide", x, g.op("where", zero, _F32(1), norm)))

"""The ONNX frontend, losses built from existing ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

The class pick input[n, target[n, ...], ...] is a take_along_axis over the class axis (the weight pick a
take), with ignored labels replaced by 0 first and their weight set to 0. A label outside [0, C) that is not
ignore_index is an error (IndexError on the host, the kernel's index check in wasm), as in onnxruntime.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_nn_ops import _str
from .onnx_ops import AttributeError_, F, onnx_op

_F32 = np.float32


def nll_loss(g: GraphBuilder, a: dict, scores, target, weight=None):
    """-scores[n, target, d...] * weight[target]; reduction none / sum / mean (mean divides by the weights)."""
    reduction = _str(a.get("reduction"), "mean")
    if reduction not in ("none", "sum", "mean"):
        raise AttributeError_(f"{g.label}: reduction {reduction!r} is not supported (none, sum or mean)")
    if len(scores.shape) < 2 or tuple(target.shape) != (scores.shape[0], *scores.shape[2:]):
        raise AttributeError_(f"{g.label}: target shape {target.shape} does not match input {scores.shape}")
    if np.dtype(target.dtype).kind not in "iu":
        raise AttributeError_(f"{g.label}: target must be an integer tensor, got {target.dtype}")
    c, n, rows = scores.shape[1], scores.shape[0], int(np.prod(scores.shape[2:], dtype=np.int64))
    ignore = int(a["ignore_index"]) if "ignore_index" in a else None
    if is_const(target):
        target = np.asarray(target, np.int64)
        bad = target[((target < 0) | (target >= c)) & (target != (c if ignore is None else ignore))]
        if bad.size:
            raise IndexError(f"{g.label}: target {int(bad.reshape(-1)[0])} is out of range [0, {c - 1}]")
        target = target.astype(np.int32)
    ignored = None if ignore is None else g.op("equal", target, np.int32(ignore))
    safe = target if ignored is None else g.op("where", ignored, np.int32(0), target)
    if not is_const(safe):  # a negative label is invalid here, not counted from the end: make it fail the check
        safe = g.op("where", g.op("less", safe, np.int32(0)), np.int32(c), safe)
    # the pick reads scores[n, label, d]: a label outside [0, C) fails the kernel's index check
    flat = scores.reshape((n, c, rows))
    picked = g.op("take_along_axis", flat, safe.reshape((n, 1, rows)), axis=1).reshape(tuple(target.shape))
    w = None
    if weight is not None:
        if tuple(weight.shape) != (c,):
            raise AttributeError_(f"{g.label}: weight must have shape ({c},), got {weight.shape}")
        w = g.op("take", weight, safe, axis=0)
    if ignored is not None:
        w = g.op("where", ignored, _F32(0), _F32(1) if w is None else w)
    loss = g.op("neg", picked if w is None else g.op("multiply", picked, w))
    if reduction == "none":
        return loss
    total = g.op("sum", loss)
    if reduction == "sum":
        return total
    if w is None:
        return g.op("divide", total, _F32(np.prod(target.shape)))
    return g.op("divide", total, g.op("sum", w))


onnx_op(F, "NegativeLogLikelihoodLoss", 12, ("reduction", "ignore_index"))(nll_loss)


@onnx_op(F, "SoftmaxCrossEntropyLoss", 12, ("reduction", "ignore_index"))
def softmax_cross_entropy(g: GraphBuilder, a: dict, scores, labels, weights=None):
    """NLL of log_softmax over the class axis 1; the optional second output is that log_softmax."""
    log_prob = g.op("log_softmax", scores, axis=1)
    loss = nll_loss(g, a, log_prob, labels, weights)
    return [loss, log_prob] if g.num_outputs > 1 else loss

"""The ONNX frontend, losses built from existing ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

The class pick input[n, target[n, ...], ...] is a one-hot mask (int labels == a class iota), a where and a
sum over the class axis, so no index is ever read from memory. A label outside [0, C) that is not
ignore_index picks nothing (loss 0, weight 0): ONNX leaves that case undefined.
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
    if is_const(target):
        target = np.asarray(target, np.int32)
    c, spatial = scores.shape[1], (1,) * (len(scores.shape) - 2)
    labels = target.reshape((target.shape[0], 1, *target.shape[1:]))
    onehot = g.op("equal", labels, np.arange(c, dtype=np.int32).reshape((1, c, *spatial)))
    picked = g.op("sum", g.op("where", onehot, scores, _F32(0)), axis=(1,))
    if weight is not None:
        if tuple(weight.shape) != (c,):
            raise AttributeError_(f"{g.label}: weight must have shape ({c},), got {weight.shape}")
        w = g.op("sum", g.op("where", onehot, weight.reshape((1, c, *spatial)), _F32(0)), axis=(1,))
    else:
        w = None
    if "ignore_index" in a:
        keep = g.op("logical_not", g.op("equal", target, np.int32(int(a["ignore_index"]))))
        w = g.op("where", keep, _F32(1) if w is None else w, _F32(0))
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

"""The ONNX frontend: BatchNormalization from opset 14, whose training_mode=1 normalises with the batch's own
statistics and also returns the updated running mean and variance (as reduce + elementwise ops).

Inference mode is the fused `batch_norm` op, as for the older opsets in registry/onnx_ops.py.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder
from .onnx_ops import AttributeError_, F, onnx_op


@onnx_op(F, "BatchNormalization", 14, ("epsilon", "momentum", "training_mode"))
def batch_norm_v14(g: GraphBuilder, a: dict, x, scale, bias, mean, var):
    if a.get("training_mode", 0):
        return _batch_norm_training(g, a, x, scale, bias, mean, var)
    return g.op("batch_norm", x, scale, bias, mean, var, epsilon=float(a.get("epsilon", 1e-5)))


def _batch_norm_training(g: GraphBuilder, a: dict, x, scale, bias, mean, var) -> list:
    """training_mode=1 (opset 14+): normalise with the batch statistics (biased variance over every axis but 1);
    also return the running mean / var updated with `momentum`."""
    if len(x.shape) < 2:
        raise AttributeError_(f"{g.label}: BatchNormalization needs an (N, C, ...) input, got {x.shape}")
    axes = tuple(i for i in range(len(x.shape)) if i != 1)
    per_channel = (x.shape[1],) + (1,) * (len(x.shape) - 2)
    batch_mean = g.op("mean", x, axis=axes, keepdims=True)
    centred = g.op("subtract", x, batch_mean)
    batch_var = g.op("mean", g.op("multiply", centred, centred), axis=axes, keepdims=True)
    eps = np.float32(a.get("epsilon", 1e-5))
    gain = g.op("divide", scale.reshape(per_channel), g.op("sqrt", g.op("add", batch_var, eps)))
    y = g.op("add", g.op("multiply", centred, gain), bias.reshape(per_channel))
    momentum = float(a.get("momentum", 0.9))
    running = [
        g.op(
            "add",
            g.op("multiply", old, np.float32(momentum)),
            g.op("multiply", new.reshape((x.shape[1],)), np.float32(1.0 - momentum)),
        )
        for old, new in ((mean, batch_mean), (var, batch_var))
    ]
    return [y, *running]

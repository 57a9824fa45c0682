"""Optimiser updates for wasmops.mindspore optimisers (bindings/mindspore_optim.py), on the update kernels.

"optim.SGD": one parameter's step on sgd_update, returning (1, *w.shape) (w') or, with momentum,
(2, *w.shape) (w', velocity'). "optim.Adam": adam_update's moments and direction, then the step's
rate, a run-time scalar (it changes every step, so it cannot be a kernel constant), applied on wasm:
returns (3, *w.shape) (w', m', v'). The binding assigns the rows back to the Parameters.
"""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder
from .table import REGISTRY

TRAIN = "mindspore-train"


@REGISTRY.register(TRAIN, "optim.SGD", 1, ("lr", "momentum", "weight_decay", "nesterov"))
def sgd_step(g: GraphBuilder, a: dict, w, grad, velocity=None):
    kw = {"momentum": float(a["momentum"]), "weight_decay": float(a["weight_decay"]), "nesterov": bool(a["nesterov"])}
    if velocity is not None:
        kw["velocity"] = velocity
    return g.op("sgd_update", w, grad, float(a["lr"]), **kw)


@REGISTRY.register(TRAIN, "optim.Adam", 1, ("beta1", "beta2", "eps"))
def adam_step(g: GraphBuilder, a: dict, w, grad, m, v, rate):
    """adam_update from w = 0 with a unit rate gives -m'/(sqrt(v') + eps); w' = w + rate * that."""
    b1, b2 = float(a["beta1"]), float(a["beta2"])
    unit = (1 - b1) / math.sqrt(1 - b2)  # the lr whose step-1 rate is 1
    out = g.op("adam_update", np.zeros(w.shape, np.float32), grad, m, v, unit, b1, b2, float(a["eps"]), step=1)
    rows = [g.op("slice", out, (k,), (k + 1,), axes=(0,)) for k in range(3)]
    new_w = g.op("add", w.reshape((1,) + tuple(w.shape)), g.op("multiply", rows[0], rate))
    return g.op("concatenate", [new_w, rows[1], rows[2]], axis=0)

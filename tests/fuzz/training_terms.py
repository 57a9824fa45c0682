"""The size of the terms each training op's outputs are computed from (check.MAGNITUDE entries): where a
result cancels (a gradient that is a difference of sums, a normalised value near 0) its float32 error is
bounded by the op's rtol times these, not times the result. Each mirrors the op's formula with every term
taken by absolute value; non-finite terms count 0 (their outputs are compared as they are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _abs(v) -> np.ndarray:
    a = np.abs(np.asarray(v, np.float64))
    return np.where(np.isfinite(a), a, 0.0)


def _grad_from_dy(inputs, attrs) -> np.ndarray:
    """dx = dy * f'(a), f' from O(1) terms (Φ and x φ(x), 0.5 ± 0.5 tanh, 1 - y², s (1 - s)) with an
    absolute error of a few ulps of 1 (fast erf / exp / tanh; silu's sigmoid is 0 below x ~ -16), as the
    ops' cases bound at dy = 1: the error scales with |dy|, not with |dx| (near zeros of f')."""
    return _abs(inputs[1])


def _softmax_grad(inputs, attrs) -> np.ndarray:
    """y * dy - y * sum(dy * y)."""
    y, dy = _abs(inputs[0]), _abs(inputs[1])
    return y * (dy + (dy * y).sum(axis=attrs.get("axis", -1), keepdims=True))


def _log_softmax_grad(inputs, attrs) -> np.ndarray:
    """dy - exp(y) * sum(dy)."""
    dy = _abs(inputs[1])
    with np.errstate(all="ignore"):
        e = _abs(np.exp(np.asarray(inputs[0], np.float64)))
    return dy + e * dy.sum(axis=attrs.get("axis", -1), keepdims=True)


def _xhat_terms(x, mean, inv) -> np.ndarray:
    """|x - mean| * invstd as computed: x and the float32 mean each carry their rounding."""
    return (_abs(x) + _abs(mean)) * _abs(inv)


def _batch_norm_train(inputs, attrs) -> list[np.ndarray]:
    """y = (x - mean) * invstd * gamma + beta; statistics and running averages are sums of |terms|."""
    x, gamma, beta, rm, rv = inputs
    momentum, eps = attrs.get("momentum", 0.9), attrs.get("eps", 1e-5)
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    ax = _abs(x)
    with np.errstate(all="ignore"):
        x64 = np.asarray(x, np.float64)
        var = _abs(x64.var(axis=axes))
        unbiased = _abs(x64.var(axis=axes, ddof=1)) if x.size > x.shape[1] else var
    inv = 1 / np.sqrt(var + eps)
    mean = ax.mean(axis=axes)
    y = (ax + mean.reshape(shape)) * (inv * _abs(gamma)).reshape(shape) + _abs(beta).reshape(shape)
    return [y, mean, inv, momentum * _abs(rm) + (1 - momentum) * mean, momentum * _abs(rv) + (1 - momentum) * unbiased]


def _batch_norm_backward(inputs, attrs) -> list[np.ndarray]:
    """dx = gamma * inv * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M); dgamma, dbeta: sums."""
    x, dy, gamma, mean, inv = inputs
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = _xhat_terms(x, np.reshape(mean, shape), np.reshape(inv, shape))
    m = x.size / max(x.shape[1], 1) if x.size else 1
    dbeta, dgamma = _abs(dy).sum(axis=axes), (_abs(dy) * xhat).sum(axis=axes)
    a = (_abs(gamma) * _abs(inv)).reshape(shape)
    dx = a * (_abs(dy) + dbeta.reshape(shape) / m + xhat * dgamma.reshape(shape) / m)
    return [dx, dgamma, dbeta]


def _layer_norm_backward(inputs, attrs) -> list[np.ndarray]:
    """dx = inv * (g - mean_k(g) - xhat * mean_k(g * xhat)), g = dy * gamma; dgamma, dbeta: sums."""
    x, dy, gamma, mean, inv = inputs
    ax = attrs.get("axis", -1) % x.ndim
    rows, k = int(np.prod(x.shape[:ax])), int(np.prod(x.shape[ax:]))
    x2, dy2 = _abs(x).reshape(rows, k), _abs(dy).reshape(rows, k)
    inv2 = _abs(inv).reshape(rows, 1)
    xhat = _xhat_terms(x2, np.reshape(mean, (rows, 1)), inv2)
    g = dy2 * _abs(gamma).reshape(1, k)
    dx = inv2 * (g + g.mean(axis=1, keepdims=True) + xhat * (g * xhat).mean(axis=1, keepdims=True)) if k else g
    norm = x.shape[ax:]
    return [dx.reshape(x.shape), (dy2 * xhat).sum(axis=0).reshape(norm), dy2.sum(axis=0).reshape(norm)]


def _softmax_cross_entropy(inputs, attrs) -> list[np.ndarray]:
    """loss = sum labels * (max - logits) + log(se) * sum labels; dlogits = softmax * sum labels - labels."""
    x = np.asarray(inputs[0], np.float64)
    lab = np.asarray(inputs[1])
    lab = np.eye(x.shape[1])[lab] if lab.dtype.kind in "iu" else _abs(lab)
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=1, keepdims=True)
        se = np.exp(shifted).sum(axis=1, keepdims=True)
        soft = _abs(np.exp(shifted) / se)
    total = lab.sum(axis=1, keepdims=True)
    loss = (lab * _abs(shifted)).sum(axis=1) + _abs(np.log(se))[:, 0] * total[:, 0]
    return [loss, soft * total + lab]


def _adam_update(inputs, attrs) -> list[np.ndarray]:
    """m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g², w' = w - lr_t m' / (sqrt(v') + eps): m' cancels,
    and its error reaches w' scaled by lr_t / (sqrt(v') + eps)."""
    w, g, m, v, lr = inputs
    b1, b2, eps, step = (attrs.get(k, d) for k, d in (("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8), ("step", 1)))
    lr_t = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
    m2 = b1 * _abs(m) + (1 - b1) * _abs(g)
    v2 = b2 * _abs(v) + (1 - b2) * _abs(g) ** 2
    with np.errstate(all="ignore"):
        v_now = np.asarray(v, np.float64) * b2 + (1 - b2) * np.asarray(g, np.float64) ** 2
        step_terms = _abs(abs(lr_t) * m2 / (np.sqrt(np.abs(v_now)) + eps))
    return [_abs(w) + step_terms, m2, v2]


def _sgd_update(inputs, attrs) -> Any:
    """w' = w - lr (g + wd w) (+ momentum's v' = m v + g + wd w): w' cancels (a fuzz run: 1.05e-5 of a
    cancelled result), so its error is relative to |w| + |lr| (|g| + |wd w| + |m v|)."""
    import inspect

    from wasmops.ops import all_ops

    args = inspect.signature(all_ops()["sgd_update"].reference).bind(*inputs, **attrs)
    args.apply_defaults()
    a = args.arguments
    m, wd = abs(a["momentum"]), abs(a["weight_decay"])
    v = _abs(a["velocity"]) if a["velocity"] is not None else 0.0
    v2 = m * v + _abs(a["g"]) + wd * _abs(a["w"])
    step = v2 * (1 + m) if a["nesterov"] else v2
    w2 = _abs(a["w"]) + abs(a["lr"]) * step
    return w2 if a["momentum"] == 0 else [w2, v2]


def _max_pool2d_backward(inputs, attrs) -> np.ndarray:
    """Each pixel sums the dy of the windows whose maximum it is: the same routing with |dy|."""
    from wasmops.ops import all_ops

    return _abs(all_ops()["max_pool2d_backward"].reference(inputs[0], _abs(inputs[1]), *inputs[2:], **attrs))


#: op name -> (inputs, attributes) -> the terms' size per output (one array, or a list for multi-output ops)
TERMS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    **dict.fromkeys(("gelu_grad", "gelu_tanh_grad", "silu_grad", "sigmoid_grad", "tanh_grad"), _grad_from_dy),
    "softmax_grad": _softmax_grad,
    "log_softmax_grad": _log_softmax_grad,
    "batch_norm_train": _batch_norm_train,
    "batch_norm_backward": _batch_norm_backward,
    "layer_norm_backward": _layer_norm_backward,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "adam_update": _adam_update,
    "sgd_update": _sgd_update,
    "max_pool2d_backward": _max_pool2d_backward,
}

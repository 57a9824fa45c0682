"""The MindSpore training frontend, continued: pooling, normalisation, softmax and the cross-entropy loss.

See mindspore_train.py for the conventions. BatchNorm in training mode has three programs besides its
gradients: the forward on batch statistics, the forward on the running statistics (eval mode), and
"nn.BatchNorm2d:stats", the updated running statistics stacked as (2, C), which the binding assigns to
the layer's moving_mean / moving_variance the way MindSpore does: moving = (1 - m) moving + m batch,
m the cell's `momentum` attribute (1 - the constructor's momentum), variance unbiased.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder
from .mindspore_ops import _hw, _mode, _nchw, _same_pads
from .mindspore_train import LAYERS, grad_of, train_layer

F32 = np.float32


# ---- pooling ------------------------------------------------------------------------------------------------
_POOL_ATTRS = ("kernel_size", "stride", "pad_mode", "format", "use_pad", "is_expand", "return_indices")


def _pool_check(a: dict) -> str | None:
    if a.get("use_pad") or a.get("is_expand") or a.get("return_indices"):
        return "explicit padding / ceil_mode / return_indices are not supported in training mode"
    return _nchw(a, "format")


def _pool_pads(a: dict, x_shape) -> tuple[int, int, int, int]:
    if _mode(a["pad_mode"]) == "same":
        return _same_pads(tuple(x_shape[-2:]), _hw(a["kernel_size"]), _hw(a["stride"]))
    return (0, 0, 0, 0)


@train_layer("nn.MaxPool2d", attrs=_POOL_ATTRS, check=_pool_check)
def max_pool_fwd(g: GraphBuilder, a: dict, x):
    return g.op("max_pool2d", x, _hw(a["kernel_size"]), stride=_hw(a["stride"]), padding=_pool_pads(a, x.shape))


@grad_of("nn.MaxPool2d", "x")
def max_pool_dx(g: GraphBuilder, a: dict, x, dout):
    k, s = _hw(a["kernel_size"]), _hw(a["stride"])
    return g.op("max_pool2d_backward", x, dout, k, strides=s, pads=_pool_pads(a, x.shape))


@train_layer("nn.AvgPool2d", attrs=_POOL_ATTRS, check=_pool_check)
def avg_pool_fwd(g: GraphBuilder, a: dict, x):
    same = _mode(a["pad_mode"]) == "same"
    k, s = _hw(a["kernel_size"]), _hw(a["stride"])
    return g.op("avg_pool2d", x, k, stride=s, padding=_pool_pads(a, x.shape), count_include_pad=not same)


@grad_of("nn.AvgPool2d", "x")
def avg_pool_dx(g: GraphBuilder, a: dict, x, dout):
    k, s = _hw(a["kernel_size"]), _hw(a["stride"])
    same = _mode(a["pad_mode"]) == "same"
    pads = _pool_pads(a, x.shape)
    return g.op("avg_pool2d_backward", dout, tuple(x.shape), k, strides=s, pads=pads, count_include_pad=not same)


# ---- batch norm ---------------------------------------------------------------------------------------------
_BN_ATTRS = ("eps", "momentum", "format", "use_batch_statistics")


def _bn_check(a: dict) -> str | None:
    return _nchw(a, "format")


def _stats(g: GraphBuilder, x, axes: tuple[int, ...], eps: float):
    """Mean, biased variance, 1 / sqrt(var + eps) and x_hat over `axes`, all kept at x's rank."""
    mean = g.op("mean", x, axis=axes, keepdims=True)
    xc = g.op("subtract", x, mean)
    var = g.op("mean", g.op("multiply", xc, xc), axis=axes, keepdims=True)
    inv = g.op("reciprocal", g.op("sqrt", g.op("add", var, F32(eps))))
    return mean, var, inv, g.op("multiply", xc, inv)


def _row(g: GraphBuilder, t, k: int):
    """Row k of a stacked result, without its leading axis."""
    return g.op("slice", t, (k,), (k + 1,), axes=(0,)).reshape(tuple(t.shape[1:]))


def _first_result(g: GraphBuilder, name: str, *args, **attrs):
    """The first result of a several-result op (its first call, a KeepCall), recording only that call
    (g.op would record the whole chain for a program that only needs, say, the statistics)."""
    from ..kernels.plan import Step
    from ..ops import all_ops
    from ..ops.spec import TensorRef

    call = all_ops()[name].plan(*args, **attrs)[0]
    out = TensorRef(call.out_shape, call.out_dtype)
    g.steps.append(Step(call.kernel, list(call.inputs), out, call.scalars, call.blocked, g.label))
    return out if call.result_shape is None else out.reshape(call.result_shape)


def _bn_stats(g: GraphBuilder, a: dict, x, running=None):
    """batch_norm_train's statistics, (4, C): batch mean, invstd, the new running mean and variance.
    The cell's `momentum` attribute is the batch's weight (1 - the constructor's), the kernel's the old's."""
    c = x.shape[1]
    running = running or (np.zeros(c, F32), np.ones(c, F32))
    unit = (np.ones(c, F32), np.zeros(c, F32))  # gamma / beta: the statistics do not read them
    return _first_result(g, "batch_norm_train", x, *unit, *running, **_bn_consts(a))


def _bn_consts(a: dict) -> dict:
    return {"momentum": 1 - float(a["momentum"]), "eps": float(a["eps"])}


def _bn_train(g: GraphBuilder, a: dict, x, gamma, beta):
    c = x.shape[1]
    return g.op("batch_norm_train", x, gamma, beta, np.zeros(c, F32), np.ones(c, F32), **_bn_consts(a))[-1]


def _bn_sums(g: GraphBuilder, a: dict, x, dout):
    """batch_norm_backward's (2, C) parameter gradients: dgamma, dbeta."""
    stats = _bn_stats(g, a, x)
    ones = np.ones(x.shape[1], F32)
    return _first_result(g, "batch_norm_backward", x, dout, ones, _row(g, stats, 0), _row(g, stats, 1))


for _bn in ("nn.BatchNorm2d", "nn.BatchNorm1d"):
    train_layer(_bn, params=("gamma", "beta"), attrs=_BN_ATTRS, check=_bn_check,
                buffers=("moving_mean", "moving_variance"))(_bn_train)  # fmt: skip
    train_layer(f"{_bn}:eval", params=("gamma", "beta", "moving_mean", "moving_variance"), attrs=_BN_ATTRS)(
        lambda g, a, x, gamma, beta, moving_mean, moving_variance: g.op(
            "batch_norm", x, gamma, beta, moving_mean, moving_variance, epsilon=float(a["eps"])
        )
    )
    train_layer(f"{_bn}:stats", params=("moving_mean", "moving_variance"), attrs=_BN_ATTRS)(
        lambda g, a, x, moving_mean, moving_variance: g.op(
            "slice", _bn_stats(g, a, x, (moving_mean, moving_variance)), (2,), (4,), axes=(0,)
        )
    )

    @grad_of(_bn, "x")
    def bn_dx(g: GraphBuilder, a: dict, x, gamma, dout):
        stats = _bn_stats(g, a, x)
        return g.op("batch_norm_backward", x, dout, gamma, _row(g, stats, 0), _row(g, stats, 1))[-1]

    grad_of(_bn, "gamma")(lambda g, a, x, dout: _row(g, _bn_sums(g, a, x, dout), 0))
    grad_of(_bn, "beta")(lambda g, a, x, dout: _row(g, _bn_sums(g, a, x, dout), 1))


# ---- layer norm ---------------------------------------------------------------------------------------------
def _ln_axis(a: dict, x) -> int:
    return int(a["begin_norm_axis"]) % len(x.shape)


def _ln_check(a: dict) -> str | None:
    if a.get("begin_norm_axis") != a.get("begin_params_axis"):
        return "begin_norm_axis != begin_params_axis is not supported in training mode"
    return None


_LN_ATTRS = ("begin_norm_axis", "begin_params_axis", "epsilon")


@train_layer("nn.LayerNorm", params=("gamma", "beta"), attrs=_LN_ATTRS, check=_ln_check)
def layer_norm_fwd(g: GraphBuilder, a: dict, x, gamma, beta):
    """x_hat * gamma + beta (the layer_norm kernel takes its scale and bias as host arrays)."""
    _, _, (_, _, _, xhat) = _ln_parts(g, a, x)
    return g.op("add", g.op("multiply", xhat, gamma), beta)


def _ln_parts(g: GraphBuilder, a: dict, x):
    axis = _ln_axis(a, x)
    return (
        tuple(range(axis, len(x.shape))),
        tuple(range(axis)),
        _stats(g, x, tuple(range(axis, len(x.shape))), float(a["epsilon"])),
    )


def _ln_backward(g: GraphBuilder, a: dict, x, dout, gamma):
    _, _, (mean, _, inv, _) = _ln_parts(g, a, x)
    return g.op("layer_norm_backward", x, dout, gamma, mean, inv, axis=_ln_axis(a, x))[-1]


@grad_of("nn.LayerNorm", "x")
def layer_norm_dx(g: GraphBuilder, a: dict, x, gamma, dout):
    return _ln_backward(g, a, x, dout, gamma)


def _ln_params(g: GraphBuilder, a: dict, x, dout):
    """layer_norm_backward's (2, *normalised shape) parameter gradients: dgamma, dbeta."""
    _, _, (mean, _, inv, _) = _ln_parts(g, a, x)
    ones = np.ones(x.shape[_ln_axis(a, x) :], F32)
    return _first_result(g, "layer_norm_backward", x, dout, ones, mean, inv, axis=_ln_axis(a, x))


grad_of("nn.LayerNorm", "gamma")(lambda g, a, x, dout: _row(g, _ln_params(g, a, x, dout), 0))
grad_of("nn.LayerNorm", "beta")(lambda g, a, x, dout: _row(g, _ln_params(g, a, x, dout), 1))


# ---- softmax and the loss -----------------------------------------------------------------------------------
@train_layer("nn.Softmax", attrs=("softmax.axis",))
def softmax_fwd(g: GraphBuilder, a: dict, x):
    return g.op("softmax", x, axis=_axis(a.get("softmax.axis", -1)))


def _axis(value) -> int:
    axes = np.asarray(value).reshape(-1)
    if axes.size != 1:
        raise ValueError(f"softmax over several axes {tuple(axes)} is not supported")
    return int(axes[0])


@grad_of("nn.Softmax", "x")
def softmax_dx(g: GraphBuilder, a: dict, out, dout):
    return g.op("softmax_grad", out, dout, axis=_axis(a.get("softmax.axis", -1)))


@train_layer("nn.LogSoftmax", attrs=("log_softmax.axis",))
def log_softmax_fwd(g: GraphBuilder, a: dict, x):
    return g.op("log_softmax", x, axis=int(a.get("log_softmax.axis", -1)))


@grad_of("nn.LogSoftmax", "x")
def log_softmax_dx(g: GraphBuilder, a: dict, out, dout):
    return g.op("log_softmax_grad", out, dout, axis=int(a.get("log_softmax.axis", -1)))


def _loss_check(a: dict) -> str | None:
    if a.get("reduction") not in ("mean", "sum", "none"):
        return f"reduction={a.get('reduction')!r} is not supported"
    return None


_LOSS_ATTRS = ("sparse", "reduction")


@train_layer("nn.SoftmaxCrossEntropyWithLogits", inputs=("logits", "labels"), attrs=_LOSS_ATTRS, check=_loss_check)
def softmax_ce_fwd(g: GraphBuilder, a: dict, logits, labels):
    per_row = _first_result(g, "softmax_cross_entropy", logits, labels)
    red = a["reduction"]
    return per_row if red == "none" else g.op("mean" if red == "mean" else "sum", per_row, axis=None)


def _scale_rows(g: GraphBuilder, a: dict, grad, dout):
    """dL/dlogits from d(per-row loss): dout broadcast over rows (none), or divided by N (mean)."""
    if a["reduction"] == "none":
        return g.op("multiply", grad, dout.reshape((-1, 1)))
    if a["reduction"] == "mean":
        dout = g.op("multiply", dout, F32(1.0 / grad.shape[0]))
    return g.op("multiply", grad, dout)


@grad_of("nn.SoftmaxCrossEntropyWithLogits", "logits")
def softmax_ce_dlogits(g: GraphBuilder, a: dict, logits, labels, dout):
    """The kernel's per-sample gradient (its second result), scaled by dout."""
    return _scale_rows(g, a, g.op("softmax_cross_entropy", logits, labels)[-1], dout)


LAYERS["nn.SoftmaxCrossEntropyWithLogits"].no_grad = lambda a: {"labels"} if a.get("sparse") else set()


@grad_of("nn.SoftmaxCrossEntropyWithLogits", "labels")
def softmax_ce_dlabels(g: GraphBuilder, a: dict, logits, labels, dout):
    """Only for dense (probability) labels; sparse int labels have no gradient."""
    if a.get("sparse"):
        raise ValueError("sparse int labels have no gradient")
    return _scale_rows(g, a, g.op("neg", g.op("log_softmax", logits, axis=-1)), dout)

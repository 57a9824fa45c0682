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
from .mindspore_train import LAYERS, grad_of, op_or, train_layer

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


def _max_pool_dx_composite(g: GraphBuilder, x, out, dy, kernel_size, stride, padding):
    """Non-overlapping unpadded windows: the first maximum of each window (row-major) takes dy."""
    (kh, kw), (n, c, oh, ow) = kernel_size, out.shape
    if kernel_size != stride or any(padding):
        raise NotImplementedError(f"max-pool gradient without the backward kernel: kernel {kernel_size} must equal "
                                  f"stride {stride} with no padding")  # fmt: skip
    h, w = x.shape[2:]
    xc = x if (h, w) == (oh * kh, ow * kw) else g.op("slice", x, (0, 0), (oh * kh, ow * kw), axes=(2, 3))
    win = g.op("transpose", xc.reshape((n, c, oh, kh, ow, kw)), (0, 1, 2, 4, 3, 5)).reshape((n, c, oh, ow, kh * kw))
    hit = g.op("cast", g.op("equal", win, out.reshape((n, c, oh, ow, 1))), "float32")
    first = g.op("multiply", hit, g.op("cast", g.op("equal", g.op("cumsum", hit, axis=4), F32(1)), "float32"))
    dx = g.op("multiply", first, dy.reshape((n, c, oh, ow, 1))).reshape((n, c, oh, ow, kh, kw))
    dx = g.op("transpose", dx, (0, 1, 2, 4, 3, 5)).reshape((n, c, oh * kh, ow * kw))
    if (h, w) != (oh * kh, ow * kw):
        dx = g.op("pad", dx, ((0, 0), (0, 0), (0, h - oh * kh), (0, w - ow * kw)))
    return dx


@grad_of("nn.MaxPool2d", "x")
def max_pool_dx(g: GraphBuilder, a: dict, x, out, dout):
    k, s = _hw(a["kernel_size"]), _hw(a["stride"])
    return op_or(g, "max_pool2d_backward", _max_pool_dx_composite, x, out, dout, k, s, _pool_pads(a, x.shape))


@train_layer("nn.AvgPool2d", attrs=_POOL_ATTRS, check=_pool_check)
def avg_pool_fwd(g: GraphBuilder, a: dict, x):
    same = _mode(a["pad_mode"]) == "same"
    k, s = _hw(a["kernel_size"]), _hw(a["stride"])
    return g.op("avg_pool2d", x, k, stride=s, padding=_pool_pads(a, x.shape), count_include_pad=not same)


def _avg_pool_dx_composite(g: GraphBuilder, x, dy, kernel_size, stride, padding):
    """Unpadded windows: every input element gets dy / window size, a depthwise transposed convolution."""
    if any(padding):
        raise NotImplementedError("avg-pool gradient with 'same' padding needs the avg_pool2d_backward kernel")
    (kh, kw), (sh, sw), c = kernel_size, stride, x.shape[1]
    ones = np.full((c, 1, kh, kw), 1.0 / (kh * kw), F32)
    oph, opw = x.shape[2] - ((dy.shape[2] - 1) * sh + kh), x.shape[3] - ((dy.shape[3] - 1) * sw + kw)
    return g.op("conv_transpose2d", dy, ones, None, stride=stride, output_padding=(oph, opw), groups=c)


@grad_of("nn.AvgPool2d", "x")
def avg_pool_dx(g: GraphBuilder, a: dict, x, dout):
    k, s = _hw(a["kernel_size"]), _hw(a["stride"])
    return op_or(g, "avg_pool2d_backward", _avg_pool_dx_composite, x, dout, k, s, _pool_pads(a, x.shape))


# ---- batch norm ---------------------------------------------------------------------------------------------
_BN_ATTRS = ("eps", "momentum", "format", "use_batch_statistics")


def _bn_check(a: dict) -> str | None:
    return _nchw(a, "format")


def _stats(g: GraphBuilder, x, axes: tuple[int, ...], eps: float):
    """Batch mean, biased variance, 1 / sqrt(var + eps) and x_hat, all kept at x's rank."""
    mean = g.op("mean", x, axis=axes, keepdims=True)
    xc = g.op("subtract", x, mean)
    var = g.op("mean", g.op("multiply", xc, xc), axis=axes, keepdims=True)
    inv = g.op("reciprocal", g.op("sqrt", g.op("add", var, F32(eps))))
    return mean, var, inv, g.op("multiply", xc, inv)


def _bn_axes(x) -> tuple[int, ...]:
    return tuple(i for i in range(len(x.shape)) if i != 1)


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (len(x.shape) - 2))


for _bn in ("nn.BatchNorm2d", "nn.BatchNorm1d"):

    @train_layer(_bn, params=("gamma", "beta"), attrs=_BN_ATTRS, check=_bn_check,
                 buffers=("moving_mean", "moving_variance"))  # fmt: skip
    def bn_train_fwd(g: GraphBuilder, a: dict, x, gamma, beta):
        """Training mode: normalised with the batch's statistics."""
        _, _, _, xhat = _stats(g, x, _bn_axes(x), float(a["eps"]))
        return g.op("add", g.op("multiply", xhat, _per_channel(gamma, x)), _per_channel(beta, x))

    train_layer(f"{_bn}:eval", params=("gamma", "beta", "moving_mean", "moving_variance"), attrs=_BN_ATTRS)(
        lambda g, a, x, gamma, beta, moving_mean, moving_variance: g.op(
            "batch_norm", x, gamma, beta, moving_mean, moving_variance, epsilon=float(a["eps"])
        )
    )

    @train_layer(f"{_bn}:stats", params=("moving_mean", "moving_variance"), attrs=_BN_ATTRS)
    def bn_stats(g: GraphBuilder, a: dict, x, moving_mean, moving_variance):
        """The running statistics after this batch, stacked (2, C): MindSpore's update, unbiased variance."""
        axes = _bn_axes(x)
        count = int(np.prod([x.shape[i] for i in axes]))
        mean, var, _, _ = _stats(g, x, axes, 0.0)
        m = F32(a["momentum"])
        new_mean = g.op("add", g.op("multiply", moving_mean, F32(1) - m), g.op("multiply", mean.reshape((-1,)), m))
        unbiased = g.op("multiply", var.reshape((-1,)), F32(count / max(count - 1, 1)))
        new_var = g.op("add", g.op("multiply", moving_variance, F32(1) - m), g.op("multiply", unbiased, m))
        c = moving_mean.shape[0]
        return g.op("concatenate", [new_mean.reshape((1, c)), new_var.reshape((1, c))], axis=0)

    @grad_of(_bn, "x")
    def bn_dx(g: GraphBuilder, a: dict, x, gamma, dout):
        axes = _bn_axes(x)
        _, _, inv, xhat = _stats(g, x, axes, float(a["eps"]))
        dbeta = g.op("mean", dout, axis=axes, keepdims=True)
        dgamma = g.op("mean", g.op("multiply", dout, xhat), axis=axes, keepdims=True)
        centred = g.op("subtract", g.op("subtract", dout, dbeta), g.op("multiply", xhat, dgamma))
        return g.op("multiply", centred, g.op("multiply", inv, _per_channel(gamma, x)))

    @grad_of(_bn, "gamma")
    def bn_dgamma(g: GraphBuilder, a: dict, x, dout):
        _, _, _, xhat = _stats(g, x, _bn_axes(x), float(a["eps"]))
        return g.op("sum", g.op("multiply", dout, xhat), axis=_bn_axes(x))

    @grad_of(_bn, "beta")
    def bn_dbeta(g: GraphBuilder, a: dict, dout):
        return g.op("sum", dout, axis=_bn_axes(dout))


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


@grad_of("nn.LayerNorm", "x")
def layer_norm_dx(g: GraphBuilder, a: dict, x, gamma, dout):
    rows, _, (_, _, inv, xhat) = _ln_parts(g, a, x)
    dxhat = g.op("multiply", dout, gamma)
    m1 = g.op("mean", dxhat, axis=rows, keepdims=True)
    m2 = g.op("mean", g.op("multiply", dxhat, xhat), axis=rows, keepdims=True)
    return g.op("multiply", g.op("subtract", g.op("subtract", dxhat, m1), g.op("multiply", xhat, m2)), inv)


@grad_of("nn.LayerNorm", "gamma")
def layer_norm_dgamma(g: GraphBuilder, a: dict, x, dout):
    _, lead, (_, _, _, xhat) = _ln_parts(g, a, x)
    prod = g.op("multiply", dout, xhat)
    return g.op("sum", prod, axis=lead) if lead else prod


@grad_of("nn.LayerNorm", "beta")
def layer_norm_dbeta(g: GraphBuilder, a: dict, x, dout):
    lead = tuple(range(_ln_axis(a, x)))
    return g.op("sum", dout, axis=lead) if lead else g.op("multiply", dout, F32(1))


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


def _first_result(g: GraphBuilder, name: str, *args):
    """The first result of a several-result op (softmax_cross_entropy's loss), recording only its call."""
    from ..kernels.plan import Step
    from ..ops import all_ops
    from ..ops.spec import TensorRef

    call = all_ops()[name].plan(*args)[0]
    out = TensorRef(call.out_shape, call.out_dtype)
    g.steps.append(Step(call.kernel, list(call.inputs), out, call.scalars, call.blocked, g.label))
    return out if call.result_shape is None else out.reshape(call.result_shape)


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
    return _scale_rows(g, a, g.op("softmax_cross_entropy", logits, labels), dout)


LAYERS["nn.SoftmaxCrossEntropyWithLogits"].no_grad = lambda a: {"labels"} if a.get("sparse") else set()


@grad_of("nn.SoftmaxCrossEntropyWithLogits", "labels")
def softmax_ce_dlabels(g: GraphBuilder, a: dict, logits, labels, dout):
    """Only for dense (probability) labels; sparse int labels have no gradient."""
    if a.get("sparse"):
        raise ValueError("sparse int labels have no gradient")
    return _scale_rows(g, a, g.op("neg", g.op("log_softmax", logits, axis=-1)), dout)

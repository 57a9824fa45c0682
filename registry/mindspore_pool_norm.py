"""The MindSpore frontend, continued: pooling and normalisation layers (see mindspore_ops.py)."""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder
from .mindspore_ops import _hw, _ints, _mode, _nchw, _same_pads, ms_op


# ---- pooling ------------------------------------------------------------------------------------------------
def _pool_check(a: dict) -> str | None:
    if a.get("return_indices"):
        return "return_indices=True is not supported"
    if a.get("avg_pool.divisor_override"):
        return "divisor_override is not supported"
    return _nchw(a, "data_format" if "data_format" in a else "format")


def _pool(g: GraphBuilder, op_name: str, x, kernel, stride, pad_mode, pads=(0, 0, 0, 0), **extra):
    kernel, stride = _hw(kernel), _hw(stride)
    mode = _mode(pad_mode)
    if mode in ("same", "1"):  # the generated primitives spell SAME as 1 in attrs
        pads = _same_pads(tuple(x.shape[-2:]), kernel, stride, extra.get("dilation", (1, 1)))
        if op_name == "avg_pool2d":
            extra["count_include_pad"] = False  # 'same' averages only the input elements (TF semantics)
    elif mode in ("valid", "2"):
        pads = (0, 0, 0, 0)
    return g.op(op_name, x, kernel, stride=stride, padding=pads, **extra)


@ms_op("ops.MaxPool", ("kernel_size", "strides", "pad_mode", "data_format"), _pool_check)
def max_pool_prim(g: GraphBuilder, a: dict, x):
    return _pool(g, "max_pool2d", x, a["kernel_size"], a["strides"], a.get("pad_mode", "valid"))


@ms_op("ops.AvgPool", ("kernel_size", "strides", "pad_mode", "data_format"), _pool_check)
def avg_pool_prim(g: GraphBuilder, a: dict, x):
    return _pool(g, "avg_pool2d", x, a["kernel_size"], a["strides"], a.get("pad_mode", "valid"))


@ms_op(
    "nn.MaxPool2d",
    (
        "kernel_size",
        "stride",
        "pad_mode",
        "format",
        "return_indices",
        "use_pad",
        "max_pool.pads",
        "max_pool.dilation",
        "max_pool.ceil_mode",
    ),
    _pool_check,
)
def max_pool_cell(g: GraphBuilder, a: dict, x):
    if not a.get("use_pad"):
        return _pool(g, "max_pool2d", x, a["kernel_size"], a["stride"], a["pad_mode"])
    ph, pw = _ints(a["max_pool.pads"])[-2:]
    dilation = _hw(a.get("max_pool.dilation") or 1)
    return _pool(
        g,
        "max_pool2d",
        x,
        a["kernel_size"],
        a["stride"],
        "pad",
        (ph, pw, ph, pw),
        dilation=dilation,
        ceil_mode=bool(a.get("max_pool.ceil_mode")),
    )


@ms_op(
    "nn.AvgPool2d",
    (
        "kernel_size",
        "stride",
        "pad_mode",
        "format",
        "is_expand",
        "avg_pool.pad",
        "avg_pool.ceil_mode",
        "avg_pool.count_include_pad",
        "avg_pool.divisor_override",
    ),
    _pool_check,
)
def avg_pool_cell(g: GraphBuilder, a: dict, x):
    if not a.get("is_expand"):
        return _pool(g, "avg_pool2d", x, a["kernel_size"], a["stride"], a["pad_mode"])
    top, bottom, left, right = _ints(a["avg_pool.pad"])[-4:]
    return _pool(
        g,
        "avg_pool2d",
        x,
        a["kernel_size"],
        a["stride"],
        a["pad_mode"],
        (top, left, bottom, right),
        ceil_mode=bool(a.get("avg_pool.ceil_mode")),
        count_include_pad=bool(a.get("avg_pool.count_include_pad", True)),
    )


# ---- normalisation ------------------------------------------------------------------------------------------
def _bn_check(a: dict) -> str | None:
    if a.get("use_batch_statistics") or (a.get("use_batch_statistics") is None and a.get("training")):
        return "uses batch statistics (training mode); call net.set_train(False) for inference"
    return _nchw(a, "format")


for _bn in ("nn.BatchNorm2d", "nn.BatchNorm1d"):
    ms_op(
        _bn,
        ("eps", "format", "use_batch_statistics", "training", "gamma", "beta", "moving_mean", "moving_variance"),
        _bn_check,
    )(
        lambda g, a, x: g.op(
            "batch_norm", x, a["gamma"], a["beta"], a["moving_mean"], a["moving_variance"], epsilon=float(a["eps"])
        )
    )


@ms_op("nn.LayerNorm", ("begin_norm_axis", "begin_params_axis", "epsilon", "gamma", "beta"))
def layer_norm_cell(g: GraphBuilder, a: dict, x):
    """Normalise over dims begin_norm_axis.., scale by gamma over dims begin_params_axis.."""
    rank = len(x.shape)
    norm_axis, params_axis = int(a["begin_norm_axis"]) % rank, int(a["begin_params_axis"]) % rank
    eps = float(a["epsilon"])
    gamma, beta = a["gamma"], a["beta"]
    if norm_axis == params_axis:
        return g.op("layer_norm", x, gamma, beta, axis=norm_axis, epsilon=eps)
    y = g.op("layer_norm", x, axis=norm_axis, epsilon=eps)
    shape = tuple(x.shape[params_axis:])
    return g.op("add", g.op("multiply", y, np.reshape(gamma, shape)), np.reshape(beta, shape))

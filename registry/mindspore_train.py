"""The MindSpore training frontend: layers whose parameters are run-time inputs, and their gradients.

`to_wasm(net, train=True)` (bindings/mindspore_train.py) feeds a layer's Parameters to its kernels as
inputs, so MindSpore's optimisers can change them between steps, and attaches a bprop made of gradient
programs. A TrainLayer names the layer's call inputs ("x"; "logits", "labels" for a loss) and its
Parameter attributes ("weight", "bias"); the forward translator and one translator per differentiable
input are registered under the frontend "mindspore-train" as "nn.Dense" and "nn.Dense:d_weight".
A translator's parameter names say which tensors it is fed: the layer's inputs and parameters, "out"
(the forward's output) and "dout" (the gradient arriving at it). Names with a default (a bias) may be
absent and come last. MindSpore itself is never imported here. Normalisation, pooling and losses are
in mindspore_train_norm.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .graph import GraphBuilder
from .mindspore_ops import _conv, _conv_check, _hw, _mode, _same_pads, _tblr
from .table import REGISTRY

TRAIN = "mindspore-train"


@dataclass
class TrainLayer:
    """One trainable layer type: what it is called with, which Parameters it feeds, which inputs have a
    wasm gradient, and why an attribute set cannot run (check)."""

    name: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    attrs: tuple[str, ...]
    check: Callable[[dict], str | None] | None = None
    grads: dict[str, str] = field(default_factory=dict)  # input or param name -> registry name
    buffers: tuple[str, ...] = ()  # Parameters updated by the forward, not differentiated (running stats)
    #: inputs with no gradient for these attributes (sparse int labels): MindSpore gets zeros for them
    no_grad: Callable[[dict], set[str]] = lambda a: set()


LAYERS: dict[str, TrainLayer] = {}


def train_layer(name: str, inputs=("x",), params=(), attrs=(), check=None, buffers=()):
    """Register a layer's forward translator: fn(g, a, *inputs, *params)."""

    def decorate(fn: Callable) -> Callable:
        LAYERS[name] = TrainLayer(name, tuple(inputs), tuple(params), tuple(attrs), check, {}, tuple(buffers))
        return REGISTRY.register(TRAIN, name, 1, tuple(attrs))(fn)

    return decorate


def grad_of(name: str, wrt: str):
    """Register the gradient of layer `name` with respect to input or parameter `wrt`."""

    def decorate(fn: Callable) -> Callable:
        layer = LAYERS[name]
        key = f"{name}:d_{wrt}"
        layer.grads[wrt] = key
        return REGISTRY.register(TRAIN, key, 1, layer.attrs)(fn)

    return decorate


def feeds(fn: Callable) -> list[tuple[str, bool]]:
    """(name, optional) of the tensors a translator takes, in order."""
    params = list(inspect.signature(fn).parameters.values())[2:]
    return [(p.name, p.default is not p.empty) for p in params]


def train_problem(name: str, attrs: dict) -> str | None:
    """Why this layer cannot train on wasm whatever its input shapes (None if it can)."""
    layer = LAYERS.get(name)
    if layer is None:
        return "no wasm training translation"
    return layer.check(attrs) if layer.check else None


def op_or(g: GraphBuilder, name: str, fallback: Callable, *args, **attrs):
    """The backward kernel `name` when the op library has it, else the same maths from forward kernels."""
    from ..ops import all_ops

    if name in all_ops().ops:
        return g.op(name, *args, **attrs)
    return fallback(g, *args, **attrs)


def sum_to(g: GraphBuilder, dout, axes: tuple[int, ...]):
    return g.op("sum", dout, axis=axes)


# ---- dense ----------------------------------------------------------------------------------------------------
def _dense_check(a: dict) -> str | None:
    return None if a.get("activation") is None else "a fused activation= is not supported in training mode"


@train_layer("nn.Dense", params=("weight", "bias"), attrs=("activation",), check=_dense_check)
def dense_fwd(g: GraphBuilder, a: dict, x, weight, bias=None):
    return g.op("dense", x, weight, bias)


@grad_of("nn.Dense", "x")
def dense_dx(g: GraphBuilder, a: dict, dout, weight):
    return op_or(g, "dense_backward_data", lambda g, dy, w: g.op("matmul", dy, w), dout, weight)


def _dense_dw_composite(g: GraphBuilder, dy, x):
    dy2, x2 = dy.reshape((-1, dy.shape[-1])), x.reshape((-1, x.shape[-1]))
    return g.op("matmul", g.op("transpose", dy2, (1, 0)), x2)


@grad_of("nn.Dense", "weight")
def dense_dw(g: GraphBuilder, a: dict, dout, x):
    return op_or(g, "dense_backward_weight", _dense_dw_composite, dout, x)


def _bias_grad_composite(g: GraphBuilder, dy, axis: int = 1):
    ax = axis % len(dy.shape)
    return sum_to(g, dy, tuple(i for i in range(len(dy.shape)) if i != ax))


@grad_of("nn.Dense", "bias")
def dense_db(g: GraphBuilder, a: dict, dout):
    return op_or(g, "bias_grad", _bias_grad_composite, dout, axis=-1)


# ---- conv2d -------------------------------------------------------------------------------------------------
_CONV_ATTRS = ("pad_mode", "padding", "stride", "dilation", "group", "data_format")


def _conv_pads(a: dict, x_shape, w_shape) -> tuple[int, int, int, int]:
    stride, dilation, mode = _hw(a["stride"]), _hw(a["dilation"]), _mode(a["pad_mode"])
    if mode == "same":
        return _same_pads(tuple(x_shape[2:]), w_shape[2:], stride, dilation)
    return (0, 0, 0, 0) if mode == "valid" else _tblr(a["padding"])


@train_layer("nn.Conv2d", params=("weight", "bias"), attrs=_CONV_ATTRS, check=_conv_check)
def conv2d_fwd(g: GraphBuilder, a: dict, x, weight, bias=None):
    return _conv(g, x, weight, bias, a["pad_mode"], a["padding"], a["stride"], a["dilation"], a["group"])


def _conv_dx_composite(g: GraphBuilder, dy, w, x_shape, stride, padding, dilation, groups):
    """conv2d's input gradient is the transposed convolution of dy with the same weight."""
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = stride, dilation, padding
    kh, kw = w.shape[2:]
    oph = x_shape[2] - ((dy.shape[2] - 1) * sh - pt - pb + dh * (kh - 1) + 1)
    opw = x_shape[3] - ((dy.shape[3] - 1) * sw - pl - pr + dw * (kw - 1) + 1)
    return g.op(
        "conv_transpose2d", dy, w, None, stride=stride, padding=padding, output_padding=(oph, opw),
        dilation=dilation, groups=groups,
    )  # fmt: skip


@grad_of("nn.Conv2d", "x")
def conv2d_dx(g: GraphBuilder, a: dict, dout, weight, x):
    kw = dict(stride=_hw(a["stride"]), padding=_conv_pads(a, x.shape, weight.shape), dilation=_hw(a["dilation"]))
    return op_or(
        g, "conv2d_backward_data", _conv_dx_composite, dout, weight, tuple(x.shape), groups=int(a["group"]), **kw
    )


def _conv_dw_composite(g: GraphBuilder, dy, x, w_shape, stride, padding, dilation, groups):
    """dW as a convolution of x (batch and channels swapped) with dy as the kernel: stride and dilation
    trade places; groups keep their channels apart by folding the group into the channel axis."""
    n, c, h, w = x.shape
    o, cg, kh, kw = w_shape
    og = o // groups
    xt = g.op("transpose", x.reshape((n, groups, cg, h, w)), (2, 1, 0, 3, 4)).reshape((cg, groups * n, h, w))
    dt = g.op("transpose", dy.reshape((n, groups, og) + dy.shape[2:]), (1, 2, 0, 3, 4))
    dt = dt.reshape((o, n) + dy.shape[2:])
    full = g.op("conv2d", xt, dt, None, stride=dilation, padding=padding, dilation=stride, groups=groups)
    if full.shape[2:] != (kh, kw):
        full = g.op("slice", full, (0, 0), (kh, kw), axes=(2, 3))
    return g.op("transpose", full, (1, 0, 2, 3))


@grad_of("nn.Conv2d", "weight")
def conv2d_dw(g: GraphBuilder, a: dict, dout, x, weight):
    kw = dict(stride=_hw(a["stride"]), padding=_conv_pads(a, x.shape, weight.shape), dilation=_hw(a["dilation"]))
    return op_or(
        g, "conv2d_backward_weight", _conv_dw_composite, dout, x, tuple(weight.shape), groups=int(a["group"]), **kw
    )


@grad_of("nn.Conv2d", "bias")
def conv2d_db(g: GraphBuilder, a: dict, dout):
    return op_or(g, "bias_grad", _bias_grad_composite, dout, axis=1)


# ---- activations --------------------------------------------------------------------------------------------
def _sigmoid_dx(g: GraphBuilder, y, dy):
    return g.op("multiply", dy, g.op("multiply", y, g.op("subtract", np.float32(1), y)))


def _silu_dx(g: GraphBuilder, x, dy):
    s = g.op("sigmoid", x)
    inner = g.op("add", np.float32(1), g.op("multiply", x, g.op("subtract", np.float32(1), s)))
    return g.op("multiply", dy, g.op("multiply", s, inner))


def _gelu_dx(g: GraphBuilder, x, dy):
    """Exact GELU: dy * (Φ(x) + x φ(x))."""
    f = np.float32
    cdf = g.op("multiply", g.op("add", g.op("erf", g.op("multiply", x, f(1 / np.sqrt(2)))), f(1)), f(0.5))
    pdf = g.op("multiply", g.op("exp", g.op("multiply", g.op("multiply", x, x), f(-0.5))), f(1 / np.sqrt(2 * np.pi)))
    return g.op("multiply", dy, g.op("add", cdf, g.op("multiply", x, pdf)))


def _gelu_tanh_dx(g: GraphBuilder, x, dy):
    """MindSpore's default tanh GELU, 0.5 x (1 + t), t = tanh(c (x + k x³)): its exact derivative."""
    f, c, k = np.float32, np.float32(np.sqrt(2 / np.pi)), np.float32(0.044715)
    x2 = g.op("multiply", x, x)
    t = g.op("tanh", g.op("multiply", g.op("multiply", x, g.op("add", g.op("multiply", x2, k), f(1))), c))
    du = g.op("multiply", g.op("add", g.op("multiply", x2, f(3 * k)), f(1)), c)
    sech2 = g.op("subtract", f(1), g.op("multiply", t, t))
    d = g.op(
        "add",
        g.op("multiply", g.op("add", t, f(1)), f(0.5)),
        g.op("multiply", g.op("multiply", x, f(0.5)), g.op("multiply", sech2, du)),
    )
    return g.op("multiply", dy, d)


def _tanh_dx(g: GraphBuilder, y, dy):
    return g.op("multiply", dy, g.op("subtract", np.float32(1), g.op("multiply", y, y)))


_ACT_GRADS = {  # layer: (forward op, gradient op, what it reads: "x" or "out", composite)
    "nn.ReLU": ("relu", "relu_grad", "x", lambda g, x, dy: g.op("multiply", dy, g.op("relu", g.op("sign", x)))),
    "nn.Sigmoid": ("sigmoid", "sigmoid_grad", "out", _sigmoid_dx),
    "nn.Tanh": ("tanh", "tanh_grad", "out", _tanh_dx),
    "nn.SiLU": ("silu", "silu_grad", "x", _silu_dx),
}  # fmt: skip

for _name, (_fwd, _grad, _reads, _composite) in _ACT_GRADS.items():
    train_layer(_name)(lambda g, a, x, _op=_fwd: g.op(_op, x))
    if _reads == "x":
        grad_of(_name, "x")(lambda g, a, x, dout, _k=_grad, _c=_composite: op_or(g, _k, _c, x, dout))
    else:
        grad_of(_name, "x")(lambda g, a, out, dout, _k=_grad, _c=_composite: op_or(g, _k, _c, out, dout))


def _exact(a: dict) -> bool:
    return _mode(a.get("approximate", True)) in ("none", "false")


@train_layer("nn.GELU", attrs=("approximate",))
def gelu_fwd(g: GraphBuilder, a: dict, x):
    return g.op("gelu" if _exact(a) else "gelu_tanh", x)


@grad_of("nn.GELU", "x")
def gelu_dx(g: GraphBuilder, a: dict, x, dout):
    return op_or(g, "gelu_grad", _gelu_dx, x, dout) if _exact(a) else _gelu_tanh_dx(g, x, dout)


# ---- layout -----------------------------------------------------------------------------------------------
@train_layer("nn.Flatten", attrs=("start_dim", "end_dim"))
def flatten_fwd(g: GraphBuilder, a: dict, x):
    return g.op("flatten", x, start_dim=int(a.get("start_dim", 1)), end_dim=int(a.get("end_dim", -1)))


@grad_of("nn.Flatten", "x")
def flatten_dx(g: GraphBuilder, a: dict, x, dout):
    return g.op("reshape", dout, tuple(x.shape))


from . import mindspore_train_norm  # noqa: E402, F401 - registers pooling, normalisation, losses

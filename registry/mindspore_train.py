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


# ---- dense ----------------------------------------------------------------------------------------------------
def _dense_check(a: dict) -> str | None:
    return None if a.get("activation") is None else "a fused activation= is not supported in training mode"


@train_layer("nn.Dense", params=("weight", "bias"), attrs=("activation",), check=_dense_check)
def dense_fwd(g: GraphBuilder, a: dict, x, weight, bias=None):
    return g.op("dense", x, weight, bias)


@grad_of("nn.Dense", "x")
def dense_dx(g: GraphBuilder, a: dict, dout, weight):
    return g.op("dense_backward_data", dout, weight)


@grad_of("nn.Dense", "weight")
def dense_dw(g: GraphBuilder, a: dict, dout, x):
    return g.op("dense_backward_weight", dout, x)


@grad_of("nn.Dense", "bias")
def dense_db(g: GraphBuilder, a: dict, dout):
    return g.op("bias_grad", dout, axis=-1)


# ---- conv2d -------------------------------------------------------------------------------------------------
_CONV_ATTRS = ("pad_mode", "padding", "stride", "dilation", "group", "data_format")


def _conv_geometry(a: dict, x_shape, w_shape) -> dict:
    """The forward's strides, (top, left, bottom, right) pads, dilations and groups, as the backward ops take them."""
    stride, dilation, mode = _hw(a["stride"]), _hw(a["dilation"]), _mode(a["pad_mode"])
    if mode == "same":
        pads = _same_pads(tuple(x_shape[2:]), w_shape[2:], stride, dilation)
    else:
        pads = (0, 0, 0, 0) if mode == "valid" else _tblr(a["padding"])
    return {"strides": stride, "pads": pads, "dilations": dilation, "groups": int(a["group"])}


@train_layer("nn.Conv2d", params=("weight", "bias"), attrs=_CONV_ATTRS, check=_conv_check)
def conv2d_fwd(g: GraphBuilder, a: dict, x, weight, bias=None):
    return _conv(g, x, weight, bias, a["pad_mode"], a["padding"], a["stride"], a["dilation"], a["group"])


@grad_of("nn.Conv2d", "x")
def conv2d_dx(g: GraphBuilder, a: dict, dout, weight, x):
    return g.op("conv2d_backward_data", dout, weight, tuple(x.shape), **_conv_geometry(a, x.shape, weight.shape))


@grad_of("nn.Conv2d", "weight")
def conv2d_dw(g: GraphBuilder, a: dict, x, dout, weight):
    geometry = _conv_geometry(a, x.shape, weight.shape)
    return g.op("conv2d_backward_weight", x, dout, tuple(weight.shape), **geometry)


@grad_of("nn.Conv2d", "bias")
def conv2d_db(g: GraphBuilder, a: dict, dout):
    return g.op("bias_grad", dout, axis=1)


# ---- activations --------------------------------------------------------------------------------------------
# layer: (forward op, gradient op, what the gradient reads: the forward's input x or its output)
_ACTIVATIONS = {
    "nn.ReLU": ("relu", "relu_grad", "x"),
    "nn.Sigmoid": ("sigmoid", "sigmoid_grad", "out"),
    "nn.Tanh": ("tanh", "tanh_grad", "out"),
    "nn.SiLU": ("silu", "silu_grad", "x"),
}

for _name, (_fwd, _grad, _reads) in _ACTIVATIONS.items():
    train_layer(_name)(lambda g, a, x, _op=_fwd: g.op(_op, x))
    if _reads == "x":
        grad_of(_name, "x")(lambda g, a, x, dout, _k=_grad: g.op(_k, x, dout))
    else:
        grad_of(_name, "x")(lambda g, a, out, dout, _k=_grad: g.op(_k, out, dout))


def _exact(a: dict) -> bool:
    return _mode(a.get("approximate", True)) in ("none", "false")


@train_layer("nn.GELU", attrs=("approximate",))
def gelu_fwd(g: GraphBuilder, a: dict, x):
    return g.op("gelu" if _exact(a) else "gelu_tanh", x)


@grad_of("nn.GELU", "x")
def gelu_dx(g: GraphBuilder, a: dict, x, dout):
    """Exact (erf) GELU, or the tanh form (MindSpore's default)."""
    return g.op("gelu_grad" if _exact(a) else "gelu_tanh_grad", x, dout)


# ---- layout -----------------------------------------------------------------------------------------------
@train_layer("nn.Flatten", attrs=("start_dim", "end_dim"))
def flatten_fwd(g: GraphBuilder, a: dict, x):
    return g.op("flatten", x, start_dim=int(a.get("start_dim", 1)), end_dim=int(a.get("end_dim", -1)))


@grad_of("nn.Flatten", "x")
def flatten_dx(g: GraphBuilder, a: dict, x, dout):
    return g.op("reshape", dout, tuple(x.shape))


from . import mindspore_train_norm  # noqa: E402, F401 - registers pooling, normalisation, losses

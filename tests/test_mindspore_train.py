"""to_wasm(net, train=True): every translated layer's gradients against MindSpore's own.

For each layer, L = sum(layer(x) * R) with a fixed random R (so the gradient arriving at the layer is not
all ones) is differentiated with mindspore.value_and_grad with respect to the input and every
Parameter, once on MindSpore's CPU kernels and once on the wasm network built from the same cell (which
shares its Parameters). Tolerance: float32 summation order only, rtol 1e-4 / atol 5e-5 relative to the
largest gradient entry. PyNative on pyfunc for every layer; GRAPH_MODE on aot, and the other two
combinations, for a representative subset.
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn  # noqa: E402

from wasmops.mindspore import WasmAdam, WasmSGD, to_wasm  # noqa: E402

from .ms_nets import COMBOS, numpy2_warmup, set_mode  # noqa: E402

rng = np.random.default_rng(0)


def r(*shape: int, low: float | None = None) -> np.ndarray:
    if low is not None:
        return rng.uniform(low, 2.0, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def _bn(n: int, cls=nn.BatchNorm2d):
    bn = cls(n, momentum=0.8)
    bn.gamma.set_data(Tensor(r(n, low=0.5)))
    bn.beta.set_data(Tensor(r(n)))
    bn.moving_mean.set_data(Tensor(r(n) * 0.1))
    bn.moving_variance.set_data(Tensor(r(n, low=0.5)))
    return bn


def _ln():
    ln = nn.LayerNorm((5, 6), begin_norm_axis=1, begin_params_axis=1)
    ln.gamma.set_data(Tensor(r(5, 6, low=0.5)))
    ln.beta.set_data(Tensor(r(5, 6)))
    return ln


X4 = r(2, 4, 8, 10)
# (id, factory, input)
LAYERS = [
    ("Dense", lambda: nn.Dense(7, 5), r(3, 7)),
    ("Dense-nobias", lambda: nn.Dense(7, 5, has_bias=False), r(3, 7)),
    ("Conv2d-same", lambda: nn.Conv2d(4, 6, 3), X4),
    ("Conv2d-pad-stride2-bias", lambda: nn.Conv2d(4, 6, 3, 2, pad_mode="pad", padding=1, has_bias=True), X4),
    ("Conv2d-valid-dilation2", lambda: nn.Conv2d(4, 6, 3, pad_mode="valid", dilation=2), X4),
    ("Conv2d-groups2", lambda: nn.Conv2d(4, 6, 3, group=2, has_bias=True), X4),
    ("Conv2d-depthwise", lambda: nn.Conv2d(4, 4, 3, stride=2, group=4), X4),
    ("ReLU", nn.ReLU, X4),
    ("GELU-tanh", nn.GELU, X4),
    ("GELU-exact", lambda: nn.GELU(approximate=False), X4),
    ("Sigmoid", nn.Sigmoid, X4),
    ("Tanh", nn.Tanh, X4),
    ("SiLU", nn.SiLU, X4),
    ("MaxPool2d", lambda: nn.MaxPool2d(2, 2), X4),
    ("MaxPool2d-odd", lambda: nn.MaxPool2d(2, 2), r(2, 3, 7, 9)),
    ("AvgPool2d", lambda: nn.AvgPool2d(2, 2), X4),
    ("AvgPool2d-overlap", lambda: nn.AvgPool2d(3, 1), X4),
    ("BatchNorm2d", lambda: _bn(4), X4),
    ("BatchNorm1d", lambda: _bn(7, nn.BatchNorm1d), r(6, 7)),
    ("LayerNorm", _ln, r(3, 5, 6)),
    ("Flatten", nn.Flatten, X4),
    ("Softmax", lambda: nn.Softmax(axis=1), r(3, 7)),
    ("LogSoftmax", lambda: nn.LogSoftmax(axis=-1), r(3, 7)),
]
SUBSET = ["Conv2d-pad-stride2-bias", "Conv2d-depthwise", "MaxPool2d", "BatchNorm2d", "LayerNorm"]


class Weighted(nn.Cell):
    """sum(layer(x) * R): a scalar whose gradient at the layer's output is R."""

    def __init__(self, layer, weights: np.ndarray):
        super().__init__()
        self.layer = layer
        self.weights = Tensor(weights)

    def construct(self, x):
        return (self.layer(x) * self.weights).sum()


def _grads(net: nn.Cell, x: np.ndarray):
    params = net.trainable_params()

    def loss(x):
        return net(x)

    value, (dx, dparams) = ms.value_and_grad(loss, 0, params)(Tensor(x))
    return float(value.asnumpy()), [dx.asnumpy()] + [g.asnumpy() for g in dparams], [p.name for p in params]


def _check(layer_factory, x: np.ndarray, backend: str) -> None:
    layer = layer_factory()
    layer.set_train(True)
    out_shape = layer(Tensor(x)).shape
    weights = r(*out_shape)
    native = Weighted(layer, weights)
    wasm = Weighted(to_wasm(layer, backend=backend, train=True), weights)
    wasm.set_train(True)
    assert [p.name for p in wasm.trainable_params()] == [p.name for p in native.trainable_params()]
    assert all(a is b for a, b in zip(wasm.trainable_params(), native.trainable_params(), strict=True))
    value_w, grads_w, names = _grads(wasm, x)
    value_n, grads_n, _ = _grads(native, x)
    np.testing.assert_allclose(value_w, value_n, rtol=1e-4, atol=1e-4)
    for name, gw, gn in zip(["x"] + names, grads_w, grads_n, strict=True):
        scale = max(float(np.abs(gn).max()), 1e-6)
        np.testing.assert_allclose(gw, gn, rtol=1e-4, atol=5e-5 * scale, err_msg=f"gradient of {name}")


@pytest.fixture(scope="module", autouse=True)
def _warmup():
    numpy2_warmup()


@pytest.mark.parametrize("factory,x", [pytest.param(f, x, id=i) for i, f, x in LAYERS])
def test_layer_gradients_pynative(factory, x):
    set_mode("pynative")
    _check(factory, x, "pyfunc")


@pytest.mark.parametrize("mode,backend", [c for c in COMBOS if c != ("pynative", "pyfunc")])
@pytest.mark.parametrize("factory,x", [pytest.param(f, x, id=i) for i, f, x in LAYERS if i in SUBSET])
def test_layer_gradients_modes(factory, x, mode, backend):
    set_mode(mode)
    _check(factory, x, backend)


@pytest.mark.parametrize("mode,backend", COMBOS)
def test_loss_gradient(mode, backend):
    """SoftmaxCrossEntropyWithLogits (sparse int32 labels, mean): the logits' gradient, labels get zeros."""
    set_mode(mode)
    logits, labels = r(6, 10), rng.integers(0, 10, 6).astype(np.int32)
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    wloss = to_wasm(loss, backend=backend, train=True)

    def run(fn):
        def f(a, b):
            return fn(a, b)

        value, grad = ms.value_and_grad(f, 0)(Tensor(logits), Tensor(labels))
        return value.asnumpy(), grad.asnumpy()

    (vw, gw), (vn, gn) = run(wloss), run(loss)
    np.testing.assert_allclose(vw, vn, rtol=1e-5)
    np.testing.assert_allclose(gw, gn, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
def test_batch_norm_running_statistics(mode, backend):
    """Training mode updates moving_mean / moving_variance as MindSpore does; eval mode then uses them."""
    set_mode(mode)
    x = r(4, 3, 5, 5) * 2 + 1
    native, shared = _bn(3), _bn(3)
    for p, q in zip(native.get_parameters(), shared.get_parameters(), strict=True):
        q.set_data(Tensor(p.asnumpy()))
    wasm = to_wasm(shared, backend=backend, train=True)
    native.set_train(True)
    wasm.set_train(True)
    for _ in range(2):
        native(Tensor(x))
        wasm(Tensor(x))
    for name in ("moving_mean", "moving_variance"):
        got, want = getattr(shared, name).asnumpy(), getattr(native, name).asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
    native.set_train(False)
    wasm.set_train(False)
    np.testing.assert_allclose(wasm(Tensor(x)).asnumpy(), native(Tensor(x)).asnumpy(), rtol=1e-4, atol=1e-5)


def test_report_lists_native_layers():
    """A layer with no wasm gradient stays native (MindSpore differentiates it) and the report says so."""
    set_mode("pynative")
    net = nn.SequentialCell([nn.Dense(4, 3), nn.ReLU6(), nn.Dense(3, 2, activation="relu")])
    wnet = to_wasm(net, train=True)
    native = {e.path: e.reason for e in wnet.wasm_report.native}
    assert set(native) == {"1", "2"}, wnet.wasm_report
    assert "no wasm training translation" in native["1"] and "activation" in native["2"]
    x = Tensor(r(5, 4))
    np.testing.assert_allclose(wnet(x).asnumpy(), net(x).asnumpy(), rtol=1e-5)


def test_unsupported_attribute_raises_in_strict_mode():
    from wasmops.mindspore import UnsupportedError

    with pytest.raises(UnsupportedError, match="activation"):
        to_wasm(nn.Dense(4, 3, activation="relu"), train=True, strict=True)


def _small_net():
    ms.set_seed(0)
    return nn.SequentialCell([nn.Dense(6, 5), nn.ReLU(), nn.Dense(5, 3)])


OPTIMIZERS = {  # MindSpore's optimiser, the wasm one with the same formula
    "sgd": (lambda p: nn.SGD(p, 0.1), lambda p, be: WasmSGD(p, 0.1, backend=be)),
    "momentum-wd": (
        lambda p: nn.SGD(p, 0.1, 0.9, weight_decay=0.01),
        lambda p, be: WasmSGD(p, 0.1, 0.9, 0.01, backend=be),
    ),
    # (not nesterov: MindSpore 2.10's CPU nn.Momentum(use_nesterov=True) steps as plain momentum)
    "momentum": (lambda p: nn.Momentum(p, 0.1, 0.9), lambda p, be: WasmSGD(p, 0.1, 0.9, backend=be)),
    "adam": (lambda p: nn.Adam(p, 0.01), lambda p, be: WasmAdam(p, 0.01, backend=be)),
}


def _squares(net):
    def loss(x):
        return (net(x) ** 2).sum()

    return loss


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_wasm_optimizers_match_mindspore(kind, mode, backend):
    """Three steps of a wasm-trained net with WasmSGD / WasmAdam against MindSpore's optimiser; atol 1e-6."""
    set_mode(mode)
    x = Tensor(r(8, 6))
    native, wasm_net = _small_net(), to_wasm(_small_net(), backend=backend, train=True)
    make_native, make_wasm = OPTIMIZERS[kind]
    runs = (
        (native, make_native(native.trainable_params())),
        (wasm_net, make_wasm(wasm_net.trainable_params(), backend)),
    )
    for net, opt in runs:
        grad = ms.value_and_grad(_squares(net), None, opt.parameters)
        for _ in range(3):
            opt(grad(x)[1])
    for p, q in zip(native.trainable_params(), wasm_net.trainable_params(), strict=True):
        np.testing.assert_allclose(q.asnumpy(), p.asnumpy(), atol=1e-6, err_msg=p.name)

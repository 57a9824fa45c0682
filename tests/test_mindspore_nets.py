"""Whole MindSpore networks through to_wasm: LeNet-5, a ResNet-18-style network and a trained MLP match
MindSpore's own CPU result in PyNative and GRAPH_MODE, on the pyfunc and the aot backend."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor  # noqa: E402

from wasmops.mindspore import to_wasm  # noqa: E402

from .ms_nets import COMBOS, LeNet5, ResNet18, f32, numpy2_warmup, randomize_batchnorm, set_mode, train_mlp  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5  # logits are O(0.1-1); atol only guards values near zero


@pytest.fixture(scope="module", autouse=True)
def _mindspore():
    numpy2_warmup()
    yield
    ms.set_context(mode=ms.GRAPH_MODE)


@pytest.fixture(scope="module")
def lenet():
    ms.set_seed(0)
    return LeNet5()


@pytest.fixture(scope="module")
def resnet():
    ms.set_seed(0)
    net = ResNet18()
    randomize_batchnorm(net, np.random.default_rng(1))
    net.set_train(False)
    return net


@pytest.fixture(scope="module")
def mlp():
    set_mode("pynative")
    return train_mlp()


def _check(net, x: np.ndarray, mode: str, backend: str, expect_wasm: int) -> None:
    set_mode(mode)
    ref = net(Tensor(x)).asnumpy()
    wasm = to_wasm(net, backend)
    assert not wasm.wasm_report.native, str(wasm.wasm_report)
    assert len(wasm.wasm_report.wasm) == expect_wasm, str(wasm.wasm_report)
    for _ in range(2):  # the second call reuses the compiled programs
        np.testing.assert_allclose(wasm(Tensor(x)).asnumpy(), ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mode,backend", COMBOS)
def test_lenet5(lenet, mode, backend):
    _check(lenet, f32(np.random.default_rng(0), 2, 1, 32, 32), mode, backend, expect_wasm=8)


@pytest.mark.parametrize("mode,backend", COMBOS)
def test_resnet18_style(resnet, mode, backend):
    # 20 convs, 20 batch norms, stem relu + maxpool, 8 blocks x (relu, add), mean, flatten, dense
    _check(resnet, f32(np.random.default_rng(0), 2, 3, 32, 32), mode, backend, expect_wasm=61)


@pytest.mark.parametrize("mode,backend", COMBOS)
def test_trained_mlp(mlp, mode, backend):
    """Weights trained in the test carry over: the wasm network reproduces the trained network."""
    net, x = mlp
    _check(net, x, mode, backend, expect_wasm=4)


def test_to_wasm_copies_the_network(lenet):
    """Converting leaves the original network native and untouched."""
    set_mode("pynative")
    before = {p.name: p.asnumpy().copy() for p in lenet.get_parameters()}
    wasm = to_wasm(lenet)
    assert type(lenet.conv1).__name__ == "Conv2d" and type(wasm.net.conv1).__name__ == "WasmCell"
    assert all(np.array_equal(before[p.name], p.asnumpy()) for p in lenet.get_parameters())

"""Whole MindSpore networks through to_wasm: LeNet-5, a ResNet-18-style network and a trained MLP match
MindSpore's own CPU result in PyNative and GRAPH_MODE, on the pyfunc and the aot backend."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor  # noqa: E402

from wasmops.mindspore import to_wasm  # noqa: E402

from .ms_nets import COMBOS, LeNet5, ResNet18, f32, randomize_batchnorm, set_mode, train_mlp  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5  # logits are O(0.1-1); atol only guards values near zero


pytestmark = pytest.mark.usefixtures("mindspore_context")


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


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("backend", ["pyfunc", "aot"])
def test_graph_mode_python_per_op(lenet, backend, whole, monkeypatch):
    """After compilation, GRAPH_MODE on aot never enters wasmops' Python; pyfunc enters it once per op:
    once per call when the whole network is one program, once per layer when it is converted layer by layer."""
    from wasmops.bindings import mindspore_backend as mb

    calls = {"infer": 0, "run": 0}
    infer, run = mb.WasmCustom.__infer__, mb.WasmOp.run

    def counting_infer(self, *args):
        calls["infer"] += 1
        return infer(self, *args)

    def counting_run(self, values):
        calls["run"] += 1
        return run(self, values)

    monkeypatch.setattr(mb.WasmCustom, "__infer__", counting_infer)
    monkeypatch.setattr(mb.WasmOp, "run", counting_run)
    set_mode("graph")
    wasm = to_wasm(lenet, backend, whole_cells=whole)
    x = Tensor(f32(np.random.default_rng(0), 1, 1, 32, 32))
    wasm(x).asnumpy()  # compiles: shape inference builds the programs
    assert calls["infer"] > 0
    calls.update(infer=0, run=0)
    for _ in range(3):
        wasm(x).asnumpy()
    assert calls["infer"] == 0
    per_call = 1 if whole else 12  # LeNet layer by layer runs 12 wasm ops per call
    assert calls["run"] == (0 if backend == "aot" else 3 * per_call)


def test_aot_slots_are_reused_safely(resnet):
    """A released op's aot slot goes to the next op; MindSpore's caches must not mix the two up."""
    import gc

    from wasmops.bindings.mindspore_backend import WasmCell

    set_mode("pynative")
    x = Tensor(f32(np.random.default_rng(0), 1, 3, 32, 32))
    ref = resnet(x).asnumpy()
    seen = []
    for _ in range(3):
        wasm = to_wasm(resnet, "aot")
        seen.append({op.func for _, c in wasm.cells_and_names() if isinstance(c, WasmCell) for op in c.arity_ops})
        np.testing.assert_allclose(wasm(x).asnumpy(), ref, rtol=RTOL, atol=ATOL)
        del wasm
        gc.collect()
    assert seen[0] & seen[1] & seen[2]  # the same slots served all three conversions


@pytest.mark.parametrize("mode,backend", COMBOS)
def test_released_network_frees_its_wasm_memory(lenet, mode, backend):
    """Dropping a converted network frees its programs (weights, arenas) in wasm memory."""
    import gc
    import weakref

    from wasmops.bindings.mindspore_backend import get_backend

    set_mode(mode)
    be = get_backend(backend)
    with be.locked() as rt:
        before = rt.bytes_in_use()
    wasm = to_wasm(lenet, backend)
    wasm(Tensor(f32(np.random.default_rng(0), 1, 1, 32, 32))).asnumpy()
    alive = weakref.ref(wasm)
    del wasm
    gc.collect()
    assert alive() is None
    with be.locked() as rt:  # the aot backend frees collected programs at its next locked section
        pass
    with be.locked() as rt:
        assert rt.bytes_in_use() == before

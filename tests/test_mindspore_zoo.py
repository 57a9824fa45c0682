"""The MindSpore model zoo, written small (tests/ms_zoo.py), on wasm: each network matches MindSpore's CPU
result in PyNative and GRAPH_MODE, on the aot and pyfunc backends, and runs entirely on wasm as one program —
construct-level code (`out += identity`, `x * gate`, channel shuffles, concats, attention) included. A test
fails if any operation the op library can compute stays native. mindcv's own smallest models are checked
when mindcv is installed."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn  # noqa: E402

from wasmops.mindspore import WasmCell, to_wasm  # noqa: E402

from .ms_nets import set_mode  # noqa: E402
from .ms_zoo import ZOO, build, perturb_norms  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


pytestmark = pytest.mark.usefixtures("mindspore_context")


_NETS: dict[str, nn.Cell] = {}


def _net(name: str) -> nn.Cell:
    if name not in _NETS:
        _NETS[name] = build(name)
    return _NETS[name]


def _check(net: nn.Cell, x: np.ndarray, mode: str, backend: str) -> None:
    set_mode(mode)
    ref = net(Tensor(x)).asnumpy()
    assert np.abs(ref).max() > 1e-2, "outputs near zero would pass any tolerance"
    wasm = to_wasm(net, backend)
    out = wasm(Tensor(x)).asnumpy()
    report = wasm.wasm_report
    # nothing the library can compute stays native: the whole network is one wasm program
    assert not report.native, str(report)
    assert isinstance(wasm.net, WasmCell), str(report)
    assert report.flop_share == 1.0 and report.op_share == 1.0
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(wasm(Tensor(x)).asnumpy(), ref, rtol=RTOL, atol=ATOL)  # the compiled program again


# every network in both modes and on both backends; three of them in all four combinations (time)
_CASES = [(n, m, b) for n in ZOO for m, b in [("pynative", "pyfunc"), ("graph", "aot")]]
_MORE = [("pynative", "aot"), ("graph", "pyfunc")]
_CASES += [(n, m, b) for n in ("resnet", "convnext_v2", "vit") for m, b in _MORE]


@pytest.mark.parametrize("name,mode,backend", _CASES)
def test_zoo(name, mode, backend):
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    _check(_net(name), x, mode, backend)


@pytest.mark.parametrize("mode", ["graph"])
def test_a_second_input_shape_gets_its_own_program(mode):
    """The first call decides which cells run whole; a later batch size compiles them for its shapes."""
    set_mode(mode)
    net = _net("mobilenet_v3")
    wasm = to_wasm(net, "aot")
    for batch in (1, 3):
        x = Tensor(np.random.default_rng(batch).standard_normal((batch, 3, 32, 32)).astype(np.float32))
        np.testing.assert_allclose(wasm(x).asnumpy(), net(x).asnumpy(), rtol=RTOL, atol=ATOL)
    assert len(wasm.net._wasm_op.variants) == 2


MINDCV = ["resnet18", "squeezenet1_0", "convnextv2_atto"]  # all thirteen were checked by hand (README)


@pytest.mark.parametrize("name", MINDCV)
def test_mindcv(name):
    """mindcv's own networks (random weights, perturbed norms), whole on wasm, in GRAPH_MODE on aot."""
    mindcv = pytest.importorskip("mindcv", reason="mindcv is optional: pip install mindcv --no-deps")
    set_mode("pynative")
    ms.set_seed(0)
    net = mindcv.create_model(name, pretrained=False, num_classes=10)
    net.set_train(False)
    perturb_norms(net, np.random.default_rng(0))
    x = np.random.default_rng(2).standard_normal((1, 3, 64, 64)).astype(np.float32)
    _check(net, x, "graph", "aot")

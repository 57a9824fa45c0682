"""Per-op overhead of wasm kernels inside MindSpore: pyfunc vs aot Custom ops vs MindSpore's own CPU op.

A chain of N tiny ReLUs (16 floats) is all call overhead, so time / N is the cost of one op on each
path: pyfunc enters Python per op, aot calls the C shim directly from MindSpore's kernel runtime. A
small ResNet-18-style network shows the same paths on real work. `extra_info["ops"]` is the number of
ops per call, for per-op figures (layer by layer: whole_cells=False). The zoo networks (tests/ms_zoo.py)
run whole on wasm (one program each) with 1 and 2 threads against MindSpore's CPU kernels.
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn  # noqa: E402

from tests.ms_nets import ResNet18, randomize_batchnorm, set_mode  # noqa: E402
from tests.ms_zoo import build  # noqa: E402
from wasmops import get_num_threads, set_num_threads  # noqa: E402
from wasmops.mindspore import to_wasm  # noqa: E402

N = 64
ENGINES = ["mindspore-native", "wasm-pyfunc", "wasm-aot"]


class Chain(nn.Cell):
    def __init__(self, n: int):
        super().__init__()
        self.layers = nn.SequentialCell([nn.ReLU() for _ in range(n)])

    def construct(self, x):
        return self.layers(x)


def _net(kind: str):
    if kind == "chain":
        return Chain(N), np.random.default_rng(0).standard_normal(16).astype(np.float32), N, 16 * N
    ms.set_seed(0)
    net = ResNet18()
    randomize_batchnorm(net, np.random.default_rng(1))
    net.set_train(False)
    return net, np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32), 61, 2 * 18.6e6


pytestmark = pytest.mark.usefixtures("mindspore_context")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["graph", "pynative"])
@pytest.mark.parametrize("kind", ["chain", "resnet18"])
def test_mindspore_op_overhead(benchmark, kind, mode, engine):
    set_mode(mode)
    net, x, ops_per_call, flops = _net(kind)
    if engine != "mindspore-native":
        net = to_wasm(net, engine.split("-")[1], whole_cells=False)
    t = Tensor(x)
    expected = net(t).asnumpy()  # compiles the graph / builds the wasm programs
    name = f"mindspore {mode} {N} x relu(16)" if kind == "chain" else f"mindspore {mode} resnet18-style 1x3x32x32"
    benchmark.group = name
    benchmark.extra_info.update(case=name, engine=engine, flops=flops, op=kind, ops=ops_per_call)
    out = benchmark(lambda: net(t).asnumpy())
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


ZOO_ENGINES = ["mindspore-native", "wasm-aot", "wasm-aot-2t"]
#: the input side per network: 64, except where the network fixes it (ViT's position table: 4x4 patches + 1)
ZOO_SIDE = {"vit": 32}


@pytest.mark.parametrize("engine", ZOO_ENGINES)
@pytest.mark.parametrize("name", ["resnet", "mobilenet_v3", "efficientnet", "convnext_v2", "vit", "densenet"])
def test_mindspore_zoo(benchmark, name, engine):
    """A zoo network in GRAPH_MODE, 1x3x64x64 (ViT 32x32): whole on wasm (aot, 1 and 2 threads) vs MindSpore CPU."""
    set_mode("graph")
    net = build(name)
    side = ZOO_SIDE.get(name, 64)
    t = Tensor(np.random.default_rng(0).standard_normal((1, 3, side, side)).astype(np.float32))
    expected = net(t).asnumpy()
    threads = get_num_threads()
    if engine != "mindspore-native":
        set_num_threads(2 if engine.endswith("2t") else 1)
        net = to_wasm(net, "aot")
        np.testing.assert_allclose(net(t).asnumpy(), expected, rtol=1e-4, atol=1e-5)
        assert not net.wasm_report.native, str(net.wasm_report)
    case = f"mindspore zoo {name} 1x3x{side}x{side}"
    benchmark.group = case
    benchmark.extra_info.update(case=case, engine=engine, flops=0, op=name, ops=1)
    try:
        out = benchmark(lambda: net(t).asnumpy())
    finally:
        set_num_threads(threads)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)

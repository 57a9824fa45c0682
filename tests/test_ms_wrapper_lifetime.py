"""A `to_wasm(net)` wrapper that is not kept in a variable still runs: PyNative queues the op and calls the
wasm Runner after the wrapper is gone (issue 14, failure 4). MindSpore's own CPU output is the reference."""

from __future__ import annotations

import gc

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn  # noqa: E402

from wasmops.mindspore import to_wasm  # noqa: E402

from .ms_nets import f32, set_mode  # noqa: E402

pytestmark = pytest.mark.usefixtures("mindspore_context")


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_unkept_wrapper_runs(mode):
    set_mode(mode)
    ms.set_seed(0)
    net = nn.SequentialCell([nn.Dense(8, 6), nn.ReLU(), nn.Dense(6, 3)])
    net.set_train(False)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = Tensor(f32(rng, 5, 8))
        got = to_wasm(net)(x).asnumpy()  # the wrapper is released as soon as the call returns
        gc.collect()
        np.testing.assert_allclose(got, net(x).asnumpy(), rtol=1e-5, atol=1e-5)

"""The whole-graph route: a MindSpore cell exported to ONNX by MindSpore and run by wasmops.onnx."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")
pytest.importorskip("onnx", reason="the ONNX route needs the [onnx] extra")

from mindspore import Tensor, nn  # noqa: E402

from wasmops.mindspore import UnsupportedError, export_to_onnx_session  # noqa: E402

from .ms_nets import LeNet5, ResNet18, f32, randomize_batchnorm, set_mode  # noqa: E402


@pytest.fixture(autouse=True)
def _graph_mode():
    set_mode("graph")


@pytest.mark.parametrize("make,shape", [(LeNet5, (2, 1, 32, 32)), (ResNet18, (1, 3, 32, 32))], ids=["lenet5", "resnet"])
def test_exported_network_matches_mindspore(make, shape):
    ms.set_seed(0)
    net = make()
    randomize_batchnorm(net, np.random.default_rng(1))
    net.set_train(False)
    x = f32(np.random.default_rng(0), *shape)
    session = export_to_onnx_session(net, x)
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(y, net(Tensor(x)).asnumpy(), rtol=1e-4, atol=1e-5)


def test_export_failure_is_reported():
    """MindSpore 2.10 cannot export exact GELU (no Erf converter): a clear error, not a wrong model."""
    net = nn.SequentialCell([nn.Dense(4, 4), nn.GELU(approximate=False)])
    with pytest.raises(UnsupportedError, match="could not export"):
        export_to_onnx_session(net, f32(np.random.default_rng(0), 2, 4))

"""What to_wasm cannot convert is reported (never silently dropped), and bad inputs fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn, ops  # noqa: E402

from wasmops.mindspore import UnsupportedError, to_wasm  # noqa: E402

from .ms_nets import LeNet5, f32, set_mode  # noqa: E402

pytestmark = pytest.mark.usefixtures("mindspore_context")


class Mixed(nn.Cell):
    """Supported layers next to an unmapped primitive, an unmapped layer and calls written in construct."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(8, 8)
        self.exp = ops.Erfinv()  # no wasm kernel for these two
        self.drop = nn.Tanhshrink()
        self.act = nn.Dense(8, 4, activation="elu")
        self.add = ops.Add()

    def construct(self, x):
        y = self.drop(self.exp(self.fc(x)))
        y = self.add(ops.relu(y), x * 2)
        return self.act(y)


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
def test_unsupported_parts_stay_native_and_are_reported(mode, backend):
    set_mode(mode)
    ms.set_seed(0)
    net = Mixed()
    net.set_train(False)
    x = Tensor(f32(np.random.default_rng(0), 3, 8))
    wasm = to_wasm(net, backend)
    report = wasm.wasm_report
    assert {e.path for e in report.wasm} == {"fc", "add"}
    native = {e.what: e.reason for e in report.native}
    assert native["ops.Erfinv"] == "no wasm translation"
    assert native["nn.Tanhshrink"] == "no wasm translation"
    assert "activation nn.ELU is not supported" in native["nn.Dense"]
    assert "ops.relu(...)" in native and "operator *" in native
    assert "native" in str(report) and "ops.Erfinv" in str(report)
    # the native parts keep running: the result is still the network's
    np.testing.assert_allclose(wasm(x).asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-5)
    # after the first call the report comes from the compiled graph: the root cannot run whole (Erfinv),
    # the Tanhshrink and the Dense with an ELU activation can (one program each); each native node says why
    graph = wasm.wasm_report
    native = {(e.path, e.what): e.reason for e in graph.native}
    assert native[("exp", "ops.Erfinv")] == "no wasm translation"
    assert "its input comes from ops.Erfinv (exp)" in native[("(top)", "ops.ReLU")]
    assert "translatable, but its cell runs natively: the cell also holds ops.Erfinv" in native[("(top)", "ops.Muls")]
    assert {e.path.split(".")[0] for e in graph.wasm} == {"fc", "drop", "act", "add"} and 0 < graph.flop_share < 1
    np.testing.assert_allclose(wasm(x).asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-5)


def test_strict_raises_with_every_native_part():
    with pytest.raises(UnsupportedError) as info:
        to_wasm(Mixed(), strict=True)
    for name in ("ops.Erfinv", "nn.Tanhshrink", "nn.ELU", "ops.relu(...)"):
        assert name in str(info.value)


def test_batchnorm_in_training_mode_stays_native():
    bn = nn.BatchNorm2d(3)
    bn.set_train(True)
    (entry,) = to_wasm(nn.SequentialCell([bn])).wasm_report.native
    assert entry.what == "nn.BatchNorm2d" and "set_train(False)" in entry.reason


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
def test_wrong_dtype_names_the_layer(mode, backend):
    set_mode(mode)
    ms.set_seed(0)
    wasm = to_wasm(LeNet5(), backend)
    x = f32(np.random.default_rng(0), 1, 1, 32, 32)
    with pytest.raises(TypeError, match=r"conv1 \(nn.Conv2d\).*float64"):
        wasm(Tensor(x.astype(np.float64))).asnumpy()
    with pytest.raises(TypeError, match=r"conv1 \(nn.Conv2d\).*int32"):
        wasm(Tensor(x.astype(np.int32))).asnumpy()
    assert wasm(Tensor(x)).asnumpy().shape == (1, 10)  # still usable afterwards


def test_runtime_shape_argument_is_refused():
    """A Reshape whose shape is a run-time tensor cannot be compiled into a wasm program."""
    set_mode("pynative")
    wasm = to_wasm(nn.SequentialCell([nn.ReLU()]))  # a working network first
    assert wasm(Tensor(np.ones((2, 2), np.float32))).shape == (2, 2)

    class Dyn(nn.Cell):
        def __init__(self):
            super().__init__()
            self.reshape = ops.Reshape()

        def construct(self, x, shape):
            return self.reshape(x, shape)

    with pytest.raises(UnsupportedError, match="Reshape shape must be known"):
        to_wasm(Dyn())(Tensor(np.ones((2, 3), np.float32)), Tensor(np.array([3, 2], np.int32)))


def test_bad_backend_name():
    with pytest.raises(ValueError, match="pyfunc"):
        to_wasm(nn.ReLU(), backend="cuda")


def test_aot_kernel_failure_is_reported_with_the_shims_message():
    """A failing aot call (here: its slot emptied behind MindSpore's back) raises with the shim's reason."""
    set_mode("graph")
    wasm = to_wasm(nn.SequentialCell([nn.ReLU()]), "aot", whole_cells=False)
    x = Tensor(np.ones((2, 3), np.float32))
    assert wasm(x).asnumpy().shape == (2, 3)
    (cell,) = wasm.net._cells.values()
    slot = int(cell.arity_ops[0].func.rsplit("_", 1)[1])
    from wasmops.bindings.ms_aot import shim

    with shim().locked():
        shim().lib.wasmops_aot_set_slot(slot, None, 0)
    with pytest.raises(RuntimeError, match=f"slot {slot}: no wasm program"):
        wasm(x).asnumpy()


def test_calls_in_helper_methods_of_construct_are_reported():
    class Helper(nn.Cell):
        def __init__(self):
            super().__init__()
            self.fc = nn.Dense(4, 4)

        def _head(self, x):
            return ops.sigmoid(x)

        def construct(self, x):
            return self._head(self.fc(x))

    report = to_wasm(Helper()).wasm_report
    assert [e.path for e in report.wasm] == ["fc"]
    assert [(e.path, e.what) for e in report.native] == [("Helper.construct", "ops.sigmoid(...)")]

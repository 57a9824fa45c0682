"""Every mapped MindSpore primitive and layer, with its attribute variants, against MindSpore's CPU result.

Each case runs in PyNative on the pyfunc backend and in GRAPH_MODE on the aot backend; the cases whose
primitives take non-tensor arguments (shapes, axes, scalars, tuples of tensors) run in all four
combinations, since those arguments travel differently in each.
"""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn, ops  # noqa: E402

from wasmops.mindspore import WasmCell, to_wasm  # noqa: E402

from .ms_nets import COMBOS, set_mode  # noqa: E402

rng = np.random.default_rng(0)


def r(*shape: int, low: float | None = None) -> np.ndarray:
    if low is not None:  # positive values away from zero (divisors)
        return rng.uniform(low, 2.0, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


class Apply(nn.Cell):
    """Calls a primitive the way model code does: tensors first, then constant arguments; or one tuple."""

    def __init__(self, prim, consts=(), pack=False):
        super().__init__()
        self.prim = prim
        self.consts = consts
        self.pack = pack

    def construct(self, *xs):
        if self.pack:
            return self.prim(xs)
        return self.prim(*xs, *self.consts)


def _bn():
    bn = nn.BatchNorm2d(4)
    bn.moving_mean.set_data(Tensor(r(4) * 0.1))
    bn.moving_variance.set_data(Tensor(r(4, low=0.5)))
    bn.gamma.set_data(Tensor(r(4, low=0.5)))
    bn.beta.set_data(Tensor(r(4)))
    bn.set_train(False)
    return bn


X4 = r(2, 4, 9, 11)  # NCHW with odd spatial sizes
# (id, factory of the cell / Apply, inputs)
CELLS = [
    ("Conv2d-same", lambda: nn.Conv2d(4, 6, 3), [X4]),
    ("Conv2d-same-stride2-bias", lambda: nn.Conv2d(4, 6, 3, 2, has_bias=True), [X4]),
    ("Conv2d-valid-dilation2", lambda: nn.Conv2d(4, 6, 3, pad_mode="valid", dilation=2), [X4]),
    ("Conv2d-pad1", lambda: nn.Conv2d(4, 6, 3, pad_mode="pad", padding=1, has_bias=True), [X4]),
    ("Conv2d-pad-tblr-stride", lambda: nn.Conv2d(4, 6, (3, 2), (2, 1), pad_mode="pad", padding=(1, 0, 2, 1)), [X4]),
    ("Conv2d-group2", lambda: nn.Conv2d(4, 6, 3, group=2, has_bias=True), [X4]),
    ("Conv2d-depthwise", lambda: nn.Conv2d(4, 4, 3, 2, group=4), [X4]),
    ("Dense", lambda: nn.Dense(11, 5), [r(3, 11)]),
    ("Dense-nobias-relu", lambda: nn.Dense(11, 5, has_bias=False, activation="relu"), [r(3, 11)]),
    ("Dense-3d-sigmoid", lambda: nn.Dense(11, 5, activation="sigmoid"), [r(2, 3, 11)]),
    ("Dense-gelu", lambda: nn.Dense(11, 5, activation="gelu"), [r(3, 11)]),
    ("BatchNorm2d", _bn, [X4]),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(4), [r(3, 4)]),
    ("LayerNorm", lambda: nn.LayerNorm((11,)), [r(3, 5, 11)]),
    ("LayerNorm-2axes", lambda: nn.LayerNorm((5, 11), begin_norm_axis=1, begin_params_axis=1), [r(3, 5, 11)]),
    ("LayerNorm-params-last", lambda: nn.LayerNorm((11,), begin_norm_axis=1, begin_params_axis=-1), [r(3, 5, 11)]),
    ("MaxPool2d-valid", lambda: nn.MaxPool2d(2, 2), [X4]),
    ("MaxPool2d-same", lambda: nn.MaxPool2d(3, 2, pad_mode="same"), [X4]),
    ("MaxPool2d-unbatched", lambda: nn.MaxPool2d(3, 2, pad_mode="same"), [r(4, 9, 11)]),
    ("AvgPool2d-unbatched", lambda: nn.AvgPool2d(2, 2), [r(4, 9, 11)]),
    ("MaxPool2d-pad", lambda: nn.MaxPool2d(3, 2, pad_mode="pad", padding=1), [X4]),
    ("MaxPool2d-pad-dilation-ceil", lambda: nn.MaxPool2d(2, 2, "pad", 1, dilation=2, ceil_mode=True), [X4]),
    ("AvgPool2d-valid", lambda: nn.AvgPool2d(2, 2), [X4]),
    ("AvgPool2d-same", lambda: nn.AvgPool2d(3, 2, pad_mode="same"), [X4]),
    ("AvgPool2d-pad-exclude", lambda: nn.AvgPool2d(3, 2, pad_mode="pad", padding=1, count_include_pad=False), [X4]),
    ("AvgPool2d-pad-include", lambda: nn.AvgPool2d(3, 1, pad_mode="pad", padding=1), [X4]),
    ("AvgPool2d-ceil", lambda: nn.AvgPool2d(3, 2, ceil_mode=True), [X4]),
    ("ReLU", nn.ReLU, [X4]),
    ("ReLU6", nn.ReLU6, [X4 * 4]),
    ("Sigmoid", nn.Sigmoid, [X4]),
    ("Tanh", nn.Tanh, [X4]),
    ("GELU-tanh", nn.GELU, [X4]),
    ("GELU-exact", lambda: nn.GELU(approximate=False), [X4]),
    ("Softmax", nn.Softmax, [r(3, 7)]),
    ("Softmax-axis1", lambda: nn.Softmax(axis=1), [X4]),
    ("LogSoftmax", nn.LogSoftmax, [r(3, 7)]),
    ("Flatten", nn.Flatten, [X4]),
    ("Flatten-from2", lambda: nn.Flatten(start_dim=2), [X4]),
    ("HSwish", nn.HSwish, [X4 * 4]),
    ("HSigmoid", nn.HSigmoid, [X4 * 4]),
    ("SiLU", nn.SiLU, [X4]),
    ("Mish", nn.Mish, [X4]),
    ("Softsign", nn.Softsign, [X4]),
    ("ELU", nn.ELU, [X4]),
    ("LeakyReLU", lambda: nn.LeakyReLU(alpha=0.1), [X4]),
    ("Identity", nn.Identity, [X4]),
    ("Dropout-eval", lambda: nn.Dropout(p=0.3).set_train(False), [X4]),
    ("Pad-constant", lambda: nn.Pad(((0, 0), (1, 2), (0, 1), (2, 0))), [X4]),
    ("Pad-reflect", lambda: nn.Pad(((0, 0), (0, 0), (1, 1), (2, 1)), mode="REFLECT"), [X4]),
]

W = r(6, 4, 3, 3)
PRIMS = [
    ("Conv2D-valid", lambda: Apply(ops.Conv2D(6, 3)), [X4, W]),
    ("Conv2D-same-stride2", lambda: Apply(ops.Conv2D(6, 3, pad_mode="same", stride=2)), [X4, W]),
    ("Conv2D-pad-dilation", lambda: Apply(ops.Conv2D(6, 3, pad_mode="pad", pad=(1, 2, 0, 1), dilation=2)), [X4, W]),
    ("Conv2D-group2", lambda: Apply(ops.Conv2D(6, 3, group=2)), [X4, r(6, 2, 3, 3)]),
    ("MatMul", lambda: Apply(ops.MatMul()), [r(5, 7), r(7, 3)]),
    ("MatMul-ta", lambda: Apply(ops.MatMul(transpose_a=True)), [r(7, 5), r(7, 3)]),
    ("MatMul-tb", lambda: Apply(ops.MatMul(transpose_b=True)), [r(5, 7), r(3, 7)]),
    ("MatMul-ta-tb", lambda: Apply(ops.MatMul(True, True)), [r(7, 5), r(3, 7)]),
    ("BatchMatMul", lambda: Apply(ops.BatchMatMul()), [r(2, 5, 7), r(2, 7, 3)]),
    ("BatchMatMul-ta-tb", lambda: Apply(ops.BatchMatMul(True, True)), [r(2, 7, 5), r(2, 3, 7)]),
    ("BiasAdd", lambda: Apply(ops.BiasAdd()), [X4, r(4)]),
    ("BiasAdd-2d", lambda: Apply(ops.BiasAdd()), [r(3, 4), r(4)]),
    ("ReLU", lambda: Apply(ops.ReLU()), [X4]),
    ("ReLU6", lambda: Apply(ops.ReLU6()), [X4 * 4]),
    ("Sigmoid", lambda: Apply(ops.Sigmoid()), [X4]),
    ("Tanh", lambda: Apply(ops.Tanh()), [X4]),
    ("GeLU", lambda: Apply(ops.GeLU()), [X4]),
    ("Softmax", lambda: Apply(ops.Softmax()), [r(3, 7)]),
    ("Softmax-axis1", lambda: Apply(ops.Softmax(axis=1)), [X4]),
    ("LogSoftmax", lambda: Apply(ops.LogSoftmax()), [r(3, 7)]),
    ("LogSoftmax-axis0", lambda: Apply(ops.LogSoftmax(axis=0)), [r(3, 7)]),
    ("MaxPool-valid", lambda: Apply(ops.MaxPool(2, 2)), [X4]),
    ("MaxPool-same", lambda: Apply(ops.MaxPool(3, 2, "SAME")), [X4]),
    ("AvgPool-valid", lambda: Apply(ops.AvgPool(3, 2)), [X4]),
    ("AvgPool-same", lambda: Apply(ops.AvgPool(3, 2, "SAME")), [X4]),
    ("Add-broadcast", lambda: Apply(ops.Add()), [X4, r(4, 1, 11)]),
    ("Sub", lambda: Apply(ops.Sub()), [X4, r(2, 4, 9, 11)]),
    ("Mul-broadcast", lambda: Apply(ops.Mul()), [X4, r(11)]),
    ("RealDiv", lambda: Apply(ops.RealDiv()), [X4, r(2, 4, 9, 11, low=0.5)]),
    ("Div", lambda: Apply(ops.Div()), [X4, r(11, low=0.5)]),
    ("Maximum", lambda: Apply(ops.Maximum()), [X4, r(1, 4, 1, 1)]),
    ("Minimum", lambda: Apply(ops.Minimum()), [X4, r(2, 4, 9, 11)]),
    (
        "Add-int32",
        lambda: Apply(ops.Add()),
        [np.arange(12, dtype=np.int32).reshape(3, 4), np.arange(4, dtype=np.int32)],
    ),
    ("Flatten", lambda: Apply(ops.Flatten()), [X4]),
    ("Exp", lambda: Apply(ops.Exp()), [X4]),
    ("Log", lambda: Apply(ops.Log()), [r(3, 4, low=0.1)]),
    ("Sqrt", lambda: Apply(ops.Sqrt()), [r(3, 4, low=0.1)]),
    ("Rsqrt", lambda: Apply(ops.Rsqrt()), [r(3, 4, low=0.1)]),
    ("Square", lambda: Apply(ops.Square()), [X4]),
    ("Neg-Abs-Floor", lambda: nn.SequentialCell([Apply(ops.Neg()), Apply(ops.Abs()), Apply(ops.Floor())]), [X4 * 3]),
    ("Erf", lambda: Apply(ops.Erf()), [X4]),
    ("HSwish", lambda: Apply(ops.HSwish()), [X4 * 4]),
    ("HSigmoid", lambda: Apply(ops.HSigmoid()), [X4 * 4]),
    ("Elu", lambda: Apply(ops.Elu(alpha=1.0)), [X4]),
    ("Pow", lambda: Apply(ops.Pow()), [r(3, 4, low=0.5), r(3, 4)]),
    ("Greater", lambda: Apply(ops.Greater()), [X4, r(1, 4, 1, 1)]),
    ("LpNorm-p2", lambda: Apply(ops.LpNorm(axis=[1, 2], p=2, keep_dims=True)), [X4]),
    ("LpNorm-p1", lambda: Apply(ops.LpNorm(axis=[0], p=1)), [X4]),
    ("Pad", lambda: Apply(ops.Pad(((0, 0), (1, 0), (2, 3), (0, 1)))), [X4]),
    ("Squeeze", lambda: Apply(ops.Squeeze(1)), [r(3, 1, 4)]),
]

# primitives with non-tensor arguments: these run in every mode x backend combination
CONSTS = [
    ("ReduceMean-global", lambda: Apply(ops.ReduceMean(keep_dims=True), ((2, 3),)), [X4]),
    ("ReduceMean-axis1", lambda: Apply(ops.ReduceMean(), (1,)), [X4]),
    ("ReduceMean-all", lambda: Apply(ops.ReduceMean()), [X4]),
    ("ReduceSum-keep", lambda: Apply(ops.ReduceSum(keep_dims=True), ((1, 3),)), [X4]),
    ("ReduceMax", lambda: Apply(ops.ReduceMax(), (-1,)), [X4]),
    ("Reshape", lambda: Apply(ops.Reshape(), ((2, -1),)), [X4]),
    ("Transpose", lambda: Apply(ops.Transpose(), ((0, 2, 3, 1),)), [X4]),
    ("Concat", lambda: Apply(ops.Concat(axis=1), pack=True), [X4, r(2, 3, 9, 11)]),
    ("Concat-3-last", lambda: Apply(ops.Concat(axis=-1), pack=True), [r(2, 3), r(2, 1), r(2, 4)]),
    ("Mul-scalar", lambda: Apply(ops.Mul(), (2.5,)), [X4]),
    ("ReduceMin", lambda: Apply(ops.ReduceMin(keep_dims=True), ((1, 2),)), [X4]),
    ("ReduceProd", lambda: Apply(ops.ReduceProd(), (-1,)), [r(3, 4, low=0.5)]),
    ("ExpandDims", lambda: Apply(ops.ExpandDims(), (1,)), [r(3, 4)]),
    ("StridedSlice", lambda: Apply(ops.StridedSlice(begin_mask=1), ((0, 1, 0), (2, 4, 9), (1, 2, 3))), [r(3, 5, 9)]),
    ("Add-int-scalar", lambda: Apply(ops.Add(), (3,)), [X4]),
]


pytestmark = pytest.mark.usefixtures("mindspore_context")


def _check(factory, inputs, mode: str, backend: str, whole: bool = False) -> None:
    """whole=False: the layer / primitive translator itself; whole=True: the cell compiled by MindSpore and
    translated from its graph's primitives (the default route), with nothing left native."""
    set_mode(mode)
    ms.set_seed(0)
    net = factory()
    tensors = [Tensor(x) for x in inputs]
    ref = net(*tensors).asnumpy()
    wasm = to_wasm(net, backend, whole_cells=whole)
    if not whole:
        assert len(wasm.wasm_report.wasm) >= 1 and not wasm.wasm_report.native, str(wasm.wasm_report)
    out = wasm(*tensors).asnumpy()
    if whole:  # nothing native; a primitive in a user cell (Apply) is compiled with the cell, as one program
        assert not wasm.wasm_report.native, str(wasm.wasm_report)
        assert isinstance(wasm.net, WasmCell) or not isinstance(net, Apply), str(wasm.wasm_report)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
@pytest.mark.parametrize("case,factory,inputs", CELLS, ids=[c[0] for c in CELLS])
def test_cell(case, factory, inputs, mode, backend):
    _check(factory, inputs, mode, backend)


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
@pytest.mark.parametrize("case,factory,inputs", PRIMS, ids=[c[0] for c in PRIMS])
def test_primitive(case, factory, inputs, mode, backend):
    _check(factory, inputs, mode, backend)


@pytest.mark.parametrize("mode,backend", COMBOS)
@pytest.mark.parametrize("case,factory,inputs", CONSTS, ids=[c[0] for c in CONSTS])
def test_primitive_with_constant_arguments(case, factory, inputs, mode, backend):
    _check(factory, inputs, mode, backend)


ALL = CELLS + PRIMS + CONSTS


@pytest.mark.parametrize("case,factory,inputs", ALL, ids=[c[0] for c in ALL])
def test_graph_route(case, factory, inputs):
    """The same layers and primitives through their compiled graph (to_wasm's default; a lone layer would be
    converted as a layer, so each sits in a SequentialCell)."""
    wrap = any(factory is c[1] for c in CELLS)
    _check(lambda: nn.SequentialCell([factory()]) if wrap else factory(), inputs, "pynative", "aot", whole=True)

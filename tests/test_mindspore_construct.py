"""Code written inside construct — operators, functional ops.* calls, tensor methods, in-place updates,
indexing — runs on wasm through the graph MindSpore compiles: each cell below becomes one wasm program that
matches MindSpore's CPU result, in PyNative and GRAPH_MODE, with nothing left native."""

from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")

from mindspore import Tensor, nn, ops  # noqa: E402

from wasmops.mindspore import WasmCell, to_wasm  # noqa: E402

from .ms_nets import set_mode  # noqa: E402

pytestmark = pytest.mark.usefixtures("mindspore_context")


class Arithmetic(nn.Cell):
    def construct(self, x, y):
        a = x * y + x / (ops.abs(y) + 1.0) - 2.5 * x
        b = 3.0 - ops.maximum(x, y) + ops.minimum(x, 0.5) ** 2
        return ops.relu(a) + ops.sigmoid(b) * ops.tanh(x) - ops.exp(-ops.abs(y)) + ops.sqrt(ops.abs(x) + 1)


class InPlace(nn.Cell):
    """ResNet's `out += identity` and its siblings, which MindSpore compiles to in-place primitives."""

    def construct(self, x, y):
        out = x * 2
        out += y
        out *= y
        out -= x
        out /= ops.abs(y) + 1
        return out


class Reductions(nn.Cell):
    def construct(self, x, y):
        a = x.mean((2, 3), keep_dims=True) + ops.mean(x, axis=1, keep_dims=True) + x.sum(axis=1, keepdims=True)
        b = ops.amax(x, axis=-1, keepdims=True) - x.max(axis=-1, keepdims=True) + x.mean()
        return a + b + ops.softmax(x, axis=1) + ops.log_softmax(y, axis=-1)


class Layout(nn.Cell):
    def construct(self, x, y):
        t = ops.transpose(x, (0, 2, 3, 1)).reshape(x.shape[0], -1, x.shape[1])
        t = ops.concat((t, ops.transpose(y, (0, 2, 3, 1)).reshape(y.shape[0], -1, y.shape[1])), axis=-1)
        u = ops.pad(x, (1, 1, 2, 0))[:, :, 2:, 1:-1] + ops.expand_dims(x[:, 0], 1) + x[..., :1]
        v = ops.flatten(u) + ops.squeeze(ops.broadcast_to(y[:, :1, :1, :1], (-1, 1, 1, 1)), (2, 3))
        return ops.concat((t.sum(axis=1), v[:, :8], ops.clamp(x, -0.5, 0.5).mean(axis=(2, 3))), axis=1)


class Attention(nn.Cell):
    """Multi-head attention as in ViT blocks: reshape, transpose, unstack, matmul, scale, softmax."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Dense(8, 24)
        self.proj = nn.Dense(8, 8)

    def construct(self, x, y):
        b, n, c = x.shape
        qkv = ops.transpose(ops.reshape(self.qkv(x + y), (b, n, 3, 2, c // 2)), (2, 0, 3, 1, 4))
        q, k, v = ops.unstack(qkv, 0)
        attn = ops.softmax(ops.matmul(q, k.swapaxes(-2, -1)) * 0.5, axis=-1)
        return self.proj(ops.matmul(attn, v).transpose(0, 2, 1, 3).reshape(b, n, c))


class Casts(nn.Cell):
    def construct(self, x, y):
        i = (x * 4).astype(ms.int32)
        return i.astype(ms.float32) + (x > y).astype(ms.float32) + ops.erf(x) + x.argmax(axis=1, keepdims=True)


X4, Y4 = (np.random.default_rng(i).standard_normal((2, 4, 5, 6)).astype(np.float32) for i in (1, 2))
X3, Y3 = (np.random.default_rng(i).standard_normal((2, 5, 8)).astype(np.float32) for i in (3, 4))
CASES = [
    ("arithmetic", Arithmetic, (X4, Y4)),
    ("in-place", InPlace, (X4, Y4)),
    ("reductions", Reductions, (X4, Y4[:, :, :1])),
    ("layout", Layout, (X4, Y4)),
    ("attention", Attention, (X3, Y3)),
    ("casts", Casts, (X4, Y4)),
]


@pytest.mark.parametrize("mode,backend", [("pynative", "pyfunc"), ("graph", "aot")])
@pytest.mark.parametrize("case,factory,inputs", CASES, ids=[c[0] for c in CASES])
def test_construct_code_runs_on_wasm(case, factory, inputs, mode, backend):
    set_mode(mode)
    ms.set_seed(0)
    net = factory()
    net.set_train(False)
    tensors = [Tensor(x) for x in inputs]
    ref = net(*tensors).asnumpy()
    wasm = to_wasm(net, backend)
    out = wasm(*tensors).asnumpy()
    report = wasm.wasm_report
    assert not report.native and isinstance(wasm.net, WasmCell), str(report)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)

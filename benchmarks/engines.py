"""The engines an op benchmark compares: wasmops (wasm), numpy, and the same TE kernel compiled natively by TVM.

Native TVM compiles exactly the PrimFunc the op library ships (same compute, same schedule) for the host
CPU, so wasm / native isolates what WebAssembly costs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

import wasmops
from wasmops.ops import all_ops
from wasmops.ops.spec import BLOCK, PREV, Call


@functools.cache
def _native_kernel(kernel: str):
    import tvm

    for _, k in all_ops().kernels():
        if k.name == kernel:
            target = tvm.target.Target({"kind": "llvm", "mcpu": _host_cpu()})
            return tvm.compile(tvm.IRModule({"main": k.build()}), target=target)["main"]
    raise KeyError(kernel)


@functools.cache
def _host_cpu() -> str:
    import tvm

    return str(tvm.get_global_func("tvm.codegen.llvm.GetHostCPUName")())


def wasm(op: str, *args, **attrs) -> Callable[[], np.ndarray]:
    fn = getattr(wasmops, op)
    return lambda: fn(*args, **attrs)


def _conv2d_im2col(x, weight, bias=None, padding=0, stride=1):
    """A fair float32 numpy conv: im2col with stride tricks, then one BLAS GEMM (groups=1, square attrs)."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = xp.shape
    k, _, kh, kw = weight.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    s = xp.strides
    cols = np.lib.stride_tricks.as_strided(
        xp, (n, c, kh, kw, oh, ow), (s[0], s[1], s[2], s[3], s[2] * stride, s[3] * stride)
    )
    y = np.einsum("kq,nqp->nkp", weight.reshape(k, -1), cols.reshape(n, c * kh * kw, oh * ow), optimize=True)
    y = y.reshape(n, k, oh, ow)
    return y + bias[None, :, None, None] if bias is not None else y


#: float32 numpy implementations an engineer would write; other ops fall back to the op's reference
NUMPY_FAST = {
    "dense": lambda x, w, b=None: x @ w.T + (0 if b is None else b),
    "matmul": np.matmul,
    "conv2d": _conv2d_im2col,
    "relu": lambda x: np.maximum(x, 0),
}


def numpy_ref(op: str, *args, **attrs) -> Callable[[], np.ndarray]:
    fn = NUMPY_FAST.get(op, all_ops()[op].reference)
    return lambda: fn(*args, **attrs)


def tvm_native(op: str, *args, **attrs) -> Callable[[], np.ndarray]:
    """The op's plan run on natively compiled kernels; inputs are uploaded once, as the wasm path does per call."""
    import tvm

    plan = all_ops()[op].plan(*args, **attrs)
    chain = [plan] if isinstance(plan, Call) else plan

    def blocks(x: np.ndarray) -> np.ndarray:  # what a blocked kernel sees: (ceil(n / BLOCK), BLOCK)
        flat = np.zeros(-(-x.size // BLOCK) * BLOCK, x.dtype)
        flat[: x.size] = x.reshape(-1)
        return flat.reshape(-1, BLOCK)

    def run() -> np.ndarray:
        prev = None
        for call in chain:
            ins = [prev if x is PREV else tvm.runtime.tensor(blocks(x) if call.blocked else x) for x in call.inputs]
            shape = blocks(np.empty(call.out_shape, call.out_dtype)).shape if call.blocked else call.out_shape
            out = tvm.runtime.tensor(np.empty(shape, call.out_dtype))
            _native_kernel(call.kernel)(*ins, out, *call.scalars)
            prev = out
        result = prev.numpy()
        final = chain[-1].result_shape or chain[-1].out_shape
        return result.reshape(-1)[: int(np.prod(final))].reshape(final)

    return run


ENGINES = {"wasm": wasm, "numpy": numpy_ref, "tvm-native": tvm_native}

"""The engines an op benchmark compares: wasmops (wasm: the op library; wasm-graph: the op compiled alone as a
whole graph), numpy, and the same TE kernel compiled natively by TVM.

Native TVM compiles exactly the PrimFunc the op library ships (same compute, same schedule) for the host
CPU, so wasm / native isolates what WebAssembly costs. wasm-graph shows what the same layer costs inside a
compiled model: static shapes, weights packed at compile time, Winograd for 3x3 stride-1 convs.

Every engine runs on one thread (numpy's BLAS and TVM's thread pool are limited in conftest.py; wasmops via
`wasm_threads(1)`), except "wasm-2t" / "wasm-graph-2t": the same with `wasmops.set_num_threads(2)`, for the
heavy ops only (THREADED_OPS), where a parallel loop has enough work to split.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

import wasmops
from wasmops.ops import all_ops
from wasmops.ops.spec import BLOCK, PREV, Call


@functools.cache
def _native_kernel(entry: str):
    """The dispatch entry compiled for the host: a shape-class entry (`<kernel>__<class>`) with the register
    tile the loaded op library built it with, so native runs the very schedule the wasm engine runs."""
    import tvm

    from wasmops.ops._tile_sizes import Tile

    kernel = entry.partition("__")[0]
    for _, k in all_ops().kernels():
        if k.name == kernel:
            tile = _library_tiles().get(entry)
            func = k.build(tile=Tile.parse(tile)) if tile else k.build()
            target = tvm.target.Target({"kind": "llvm", "mcpu": _host_cpu()})
            return tvm.compile(tvm.IRModule({"main": func}), target=target)["main"]
    raise KeyError(entry)


def _library_tiles() -> dict[str, str]:
    """Dispatch entry -> tile name for the entries the default op library was built with a tuned tile."""
    from wasmops.kernels.runtime import default_runtime

    return default_runtime().manifest.info.get("tiles", {})


@functools.cache
def _host_cpu() -> str:
    import tvm

    return str(tvm.get_global_func("tvm.codegen.llvm.GetHostCPUName")())


#: ops with a "wasm-2t" figure: their kernels have parallel loops with enough work for two threads
THREADED_OPS = ("conv2d", "dense", "matmul", "conv2d_backward_data", "conv2d_backward_weight")
#: wasmops threads per engine (process-wide in wasmops); every engine not listed runs on one
WASM_THREADS = {"wasm-2t": 2, "wasm-graph-2t": 2}


@contextlib.contextmanager
def wasm_threads(n: int) -> Iterator[None]:
    """Run the block with wasmops on `n` threads (op library and compiled graphs), then restore the old count.

    A wasmops without `set_num_threads` has no threads: one thread is what it runs, any other count fails."""
    if not hasattr(wasmops, "set_num_threads"):
        if n != 1:
            raise RuntimeError(f"wasmops has no set_num_threads: cannot run on {n} threads")
        yield
        return
    previous = wasmops.get_num_threads()
    wasmops.set_num_threads(n)
    try:
        yield
    finally:
        wasmops.set_num_threads(previous)


def wasm(op: str, *args, **attrs) -> Callable[[], np.ndarray]:
    fn = getattr(wasmops, op)
    return lambda: fn(*args, **attrs)


def _im2col(x: np.ndarray, kh: int, kw: int, padding: int, stride: int) -> np.ndarray:
    """(N, C, KH, KW, OH, OW) view of the padded x (no copy), square padding and stride."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, w = xp.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (n, c, kh, kw, oh, ow), (s[0], s[1], s[2], s[3], s[2] * stride, s[3] * stride)
    )


def _conv2d_im2col(x, weight, bias=None, padding=0, stride=1, groups=1):
    """A fair float32 numpy conv: im2col with stride tricks, then BLAS (square attrs).

    groups=1: one GEMM. groups>1 (depthwise): one batched matmul, a GEMM per group (the fastest of the
    float32 numpy formulations tried: per-tap sums and einsum were 3-10x slower on MobileNetV2's depthwise)."""
    k, cg, kh, kw = weight.shape
    cols = _im2col(x, kh, kw, padding, stride)
    n, c, _, _, oh, ow = cols.shape
    if groups == 1:
        y = np.einsum("kq,nqp->nkp", weight.reshape(k, -1), cols.reshape(n, c * kh * kw, oh * ow), optimize=True)
    else:
        w = weight.reshape(groups, k // groups, cg * kh * kw)
        y = np.matmul(w, cols.reshape(n, groups, cg * kh * kw, oh * ow))
    y = y.reshape(n, k, oh, ow)
    return y + bias[None, :, None, None] if bias is not None else y


def _conv2d_backward_weight_im2col(x, dy, kernel_shape, strides=1, pads=0, groups=1):
    """dw the way an engineer would in float32 numpy: im2col with stride tricks, then one GEMM per group."""
    kh, kw = kernel_shape[-2:]
    cols = _im2col(x, kh, kw, pads, strides)
    n, c, _, _, oh, ow = cols.shape
    k = dy.shape[1]
    cols = cols.reshape(n, groups, c // groups * kh * kw, oh * ow)
    d = dy.reshape(n, groups, k // groups, oh * ow)
    return np.einsum("ngkp,ngqp->gkq", d, cols, optimize=True).reshape(k, c // groups, kh, kw)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _layer_norm(x, scale=None, bias=None, axis=-1, epsilon=1e-5):
    axes = tuple(range(axis % x.ndim, x.ndim))
    d = x - x.mean(axes, keepdims=True)
    y = d / np.sqrt((d * d).mean(axes, keepdims=True) + np.float32(epsilon))
    y = y if scale is None else y * scale
    return y if bias is None else y + bias


#: float32 numpy implementations an engineer would write; other ops fall back to the op's reference
NUMPY_FAST = {
    "dense": lambda x, w, b=None: x @ w.T + (0 if b is None else b),
    "matmul": np.matmul,
    "conv2d": _conv2d_im2col,
    "conv2d_backward_weight": _conv2d_backward_weight_im2col,
    "relu": lambda x: np.maximum(x, 0),
    "softmax": _softmax,
    "layer_norm": _layer_norm,
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


#: ops with a "wasm-graph" figure: the op alone as an ONNX node, compiled as a whole graph
GRAPH_OPS = ("conv2d", "dense", "matmul")
GRAPHS = Path(__file__).resolve().parents[1] / "build" / "graphs" / "ops"


def _one_node_model(op: str, args: tuple, attrs: dict):
    """The op as a one-node ONNX model: activations are inputs, weights and bias initializers (constants,
    so the graph compiler packs them once, as it does for a model's weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def value(name: str, shape) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    if op == "matmul":
        inputs, inits = [value("a", args[0].shape), value("b", args[1].shape)], []
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
    elif op == "dense":
        inputs = [value("x", args[0].shape)]
        inits = [numpy_helper.from_array(args[1], "w"), numpy_helper.from_array(args[2], "bias")]
        node = helper.make_node("Gemm", ["x", "w", "bias"], ["y"], transB=1)
    else:
        pad, stride, groups = attrs.get("padding", 0), attrs.get("stride", 1), attrs.get("groups", 1)
        inputs = [value("x", args[0].shape)]
        inits = [numpy_helper.from_array(args[1], "w"), numpy_helper.from_array(args[2], "bias")]
        node = helper.make_node("Conv", ["x", "w", "bias"], ["y"], pads=[pad] * 4, strides=[stride] * 2, group=groups)
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)  # its shape: the compiler infers it
    graph = helper.make_graph([node], op, inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def wasm_graph(op: str, *args, tuned: bool = True, **attrs) -> Callable[[], np.ndarray]:
    """The op compiled alone as a whole graph (static shapes, constant weights packed at compile time: the
    kernels a compiled model runs, Winograd for 3x3 stride-1 convs); compiled once per machine. `tuned`:
    with the tuning records that match it (the default compile), else hand schedules only."""
    import hashlib

    import wasmops.graph as wg
    from wasmops.bindings.graph_session import compiled_graph

    model = _one_node_model(op, args, attrs)
    name = f"{op}-{hashlib.sha1(model.SerializeToString()).hexdigest()[:8]}" + ("" if tuned else "-hand")
    session = wg.InferenceSession(compiled_graph(model, GRAPHS, name, progress=False, tuned=tuned))
    feeds = dict(zip([i.name for i in session.get_inputs()], args, strict=False))
    return lambda: session.run(None, feeds)[0]


#: the op library built with the hand tile everywhere (no op-tile records): "wasm-hand", tunable ops only
HAND_LIBRARY = Path(__file__).resolve().parent.parent / "build" / "lib-hand"
TUNABLE_OPS = ("conv2d", "dense", "matmul")


@functools.cache
def _hand_runtime():
    from wasmops.kernels.builder import build_library
    from wasmops.kernels.runtime import Runtime, default_runtime

    isa = default_runtime().manifest.isa
    (path,) = build_library(HAND_LIBRARY, list(TUNABLE_OPS), (isa,), tuned=False, progress=False)
    return Runtime(path)


def tuned_entry(op: str, *args, **attrs) -> str | None:
    """The op library's entry this call runs, if the default library built it with a tuned tile (else None)."""
    call = all_ops()[op].plan(*args, **attrs)
    return call.kernel if isinstance(call, Call) and call.kernel in _library_tiles() else None


def wasm_hand(op: str, *args, **attrs) -> Callable[[], np.ndarray]:
    """The op on the hand-tiled op library (same plan, same entry, built without the op-tile records)."""
    rt, call = _hand_runtime(), all_ops()[op].plan(*args, **attrs)
    return lambda: rt.run(call)


ENGINES = {
    "wasm": wasm,
    "wasm-hand": wasm_hand,
    "wasm-2t": wasm,
    "numpy": numpy_ref,
    "tvm-native": tvm_native,
    "wasm-graph": wasm_graph,
    "wasm-graph-2t": wasm_graph,
    "wasm-graph-hand": lambda op, *args, **attrs: wasm_graph(op, *args, tuned=False, **attrs),
}

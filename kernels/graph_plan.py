"""The static plan of a whole graph, read off Relax's memory-planned `main`: arena regions, steps, weights.

Storages become arena regions, calls to fused kernels become steps, constants go to the weights payload
(equal ones once) or, when kernels/graph_packing knows how to make them from a source weight, to the packed
region with an init step that makes them at load. Build-time only (TVM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .graph_checks import GraphCompileError
from .graph_packing import constant_key

ALIGN = 64


@dataclass(frozen=True)
class Buffer:
    """A tensor at a fixed place: region 'arena', 'weights' or 'packed', byte offset, shape, dtype."""

    region: str
    offset: int
    shape: tuple[int, ...]
    dtype: str


@dataclass
class Plan:
    inputs: list[tuple[str, Buffer]]
    outputs: list[tuple[str, Buffer]]
    steps: list[tuple[str, list[Buffer]]]
    arena_bytes: int
    weights: bytearray = field(default_factory=bytearray)
    #: steps of wasmops_graph_init: packed constants made from the weights at load (graph_packing)
    init_steps: list[tuple[str, list[Buffer]]] = field(default_factory=list)
    packed_bytes: int = 0


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _static_shape(ty, what: str) -> tuple[tuple[int, ...], str]:
    from tvm import relax

    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        raise GraphCompileError(f"{what} has no static tensor shape ({ty})")
    try:
        shape = tuple(int(d) for d in ty.shape.values)
    except (AttributeError, TypeError, ValueError):
        raise GraphCompileError(f"{what} has a symbolic shape {ty.shape}: whole graphs need static shapes") from None
    return shape, str(ty.dtype)


def read_plan(mod, input_names: list[str], output_names: list[str], packings=None) -> Plan:
    """Walk the memory-planned `main`: storages become arena regions, calls become steps. A constant that
    `packings` knows how to make is placed in the packed region, its sources in the weights, and an init
    step makes it at load."""
    import tvm
    from tvm import relax

    alloc_storage = tvm.ir.Op.get("relax.memory.alloc_storage")
    alloc_tensor = tvm.ir.Op.get("relax.memory.alloc_tensor")
    alloc_output = tvm.ir.Op.get("relax.builtin.alloc_tensor")  # tensors that outlive main: the outputs
    reshape = tvm.ir.Op.get("relax.reshape")
    fn = mod["main"]
    env: dict = {}
    weights = bytearray()
    constants: dict = {}
    arena = 0
    inputs = []
    for name, param in zip(input_names, fn.params, strict=True):
        shape, dtype = _static_shape(param.ty, f"input {name!r}")
        buf = Buffer("arena", arena, shape, dtype)
        arena = _aligned(arena + math.prod(shape) * np.dtype(dtype).itemsize)
        env[param] = buf
        inputs.append((name, buf))

    init_steps: list = []
    packed = [0]  # bytes of the packed region so far

    def stored(arr: np.ndarray) -> Buffer:
        key = constant_key(arr)  # tobytes() is C order; ascontiguousarray would make a 0-d array 1-d
        if key not in constants:  # equal constants are stored once
            packing = packings.get(key) if packings is not None else None
            if packing is None:
                at = _aligned(len(weights))
                weights.extend(b"\0" * (at - len(weights)))
                weights.extend(arr.tobytes())
                constants[key] = Buffer("weights", at, tuple(arr.shape), str(arr.dtype))
            else:
                buf = constants[key] = Buffer("packed", packed[0], tuple(arr.shape), str(arr.dtype))
                packed[0] = _aligned(packed[0] + arr.nbytes)
                init_steps.append((packing.kernel, [stored(s) for s in packing.sources] + [buf]))
        return constants[key]

    def constant(c) -> Buffer:
        return stored(c.value.numpy())

    def value_of(expr, what: str):
        if isinstance(expr, tvm.ir.Constant):
            return constant(expr)
        if isinstance(expr, relax.Var) and expr in env:
            return env[expr]
        if isinstance(expr, relax.Tuple):
            return [value_of(f, what) for f in expr.fields]
        raise GraphCompileError(f"{what}: unsupported argument {type(expr).__name__}")

    steps = []
    for block in fn.body.blocks:
        for binding in block.bindings:
            var, value = binding.var, binding.value
            if isinstance(value, relax.Call):
                op = value.op
                if op.same_as(alloc_storage):
                    size = int(value.args[0].values[0])
                    env[var] = ("storage", arena)
                    arena = _aligned(arena + size)
                elif op.same_as(alloc_tensor):
                    _, base = env[value.args[0]]
                    offset = int(value.args[1].value)
                    shape = tuple(int(d) for d in value.args[2].values)
                    env[var] = Buffer("arena", base + offset, shape, str(value.args[3].value))
                elif op.same_as(alloc_output):
                    shape = tuple(int(d) for d in value.args[0].values)
                    dtype = str(value.args[1].value)
                    env[var] = Buffer("arena", arena, shape, dtype)
                    arena = _aligned(arena + math.prod(shape) * np.dtype(dtype).itemsize)
                elif op.same_as(reshape):  # an alias: same bytes, new shape
                    src = value_of(value.args[0], "reshape")
                    shape, _ = _static_shape(var.ty, "reshape")
                    env[var] = Buffer(src.region, src.offset, shape, src.dtype)
                elif isinstance(op, tvm.ir.GlobalVar):
                    args = [value_of(a, op.name_hint) for a in value.args]
                    if any(isinstance(a, list) for a in args):
                        raise GraphCompileError(f"{op.name_hint}: tuple arguments are not supported")
                    steps.append((op.name_hint, args))
                else:
                    raise GraphCompileError(f"unsupported construct in the lowered graph: {op}")
            elif isinstance(value, relax.Var | tvm.ir.Constant | relax.Tuple):
                env[var] = value_of(value, str(var.name))
            elif isinstance(value, relax.TupleGetItem):
                env[var] = value_of(value.tuple_value, str(var.name))[value.index]
            else:
                raise GraphCompileError(f"unsupported binding in the lowered graph: {type(value).__name__}")
    result = value_of(fn.body.body, "graph output")
    results = result if isinstance(result, list) else [result]
    if len(results) != len(output_names):
        raise GraphCompileError(f"the graph returns {len(results)} tensors for {len(output_names)} ONNX outputs")
    outputs = list(zip(output_names, results, strict=True))
    return Plan(inputs, outputs, steps, _aligned(max(arena, ALIGN)), weights, init_steps, packed[0])


__all__ = ["ALIGN", "Buffer", "Plan", "read_plan"]

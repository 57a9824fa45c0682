"""MindSpore Custom ops that run wasmops programs, on the pyfunc or the aot backend.

A WasmOp is one MindSpore layer or primitive translated by the registry (registry/mindspore_ops.py).
For every input signature MindSpore infers — shapes, dtypes, and the values of inputs known at compile
time (a Reshape's shape, a scalar) — it builds one Program: weights uploaded once, every kernel call
encoded once, run in one call into wasm. The Custom op's output shape and dtype are the program's, so
MindSpore needs no other shape function, in PyNative and GRAPH_MODE alike.

pyfunc: MindSpore calls Python (ms_pyfunc.Runner) per op, which runs the program.
aot: MindSpore calls the C shim (ms_aot.c) per op, which runs the program without entering Python.

WasmCell puts one WasmOp where a sub-cell or a primitive attribute was. Values that are not tensors
(shapes, axes, scalars) become constant inputs in GRAPH_MODE, where MindSpore passes their values to
shape inference; in PyNative, where it does not, each distinct set of such values gets its own op.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import weakref
from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops
from mindspore.common import dtype as mstype

try:
    from mindspore.context import _get_mode  # get_context("mode") costs ~20x more per call
except ImportError:  # pragma: no cover - other MindSpore versions

    def _get_mode():
        return ms.get_context("mode")


from ..kernels.plan import Program
from ..kernels.runtime import default_runtime
from ..ops.spec import TensorRef
from ..registry import mindspore_layout, mindspore_ops, mindspore_pool_norm, mindspore_table  # noqa: F401 - register
from ..registry.graph import GraphBuilder
from ..registry.table import REGISTRY, UnsupportedError
from . import ms_aot
from .ms_pyfunc import MAX_INPUTS, Runner

# a TensorType, not a number type: a 0-d output must stay a tensor, not become a Python scalar
_NP_TO_MS = {
    np.dtype(n): mstype.TensorType(t)
    for n, t in [("float32", mstype.float32), ("int32", mstype.int32), ("bool", mstype.bool_)]
}


_MS_TO_NP = {
    mstype.float32: np.float32,
    mstype.float64: np.float64,
    mstype.float16: np.float16,
    mstype.int32: np.int32,
    mstype.int64: np.int64,
    mstype.int16: np.int16,
    mstype.int8: np.int8,
    mstype.uint8: np.uint8,
    mstype.bool_: np.bool_,
}


def _np_dtype(dtype, label: str) -> np.dtype:
    t = dtype.element_type() if hasattr(dtype, "element_type") else dtype
    if t not in _MS_TO_NP:
        raise TypeError(f"{label}: input dtype {t} is not supported; wasm kernels take float32 (int32 where natural)")
    return np.dtype(_MS_TO_NP[t])


@dataclass
class Variant:
    """The program for one input signature: per input (shape, dtype, constant value or None)."""

    sig: tuple
    program: Program
    refs: dict[int, TensorRef]  # input position -> its tensor in the program (constants are folded in)
    out: TensorRef


def _same(a: tuple, b: tuple) -> bool:
    if a[0] != b[0] or a[1] != b[1] or (a[2] is None) != (b[2] is None):
        return False
    return a[2] is None or (a[2].dtype == b[2].dtype and np.array_equal(a[2], b[2]))


def _arities(fn) -> tuple[int, int]:
    """How many inputs a translator takes (after the builder and the attributes)."""
    lo = hi = 0
    for p in list(inspect.signature(fn).parameters.values())[2:]:
        if p.name.startswith("_"):
            continue
        if p.kind is p.VAR_POSITIONAL:
            hi = MAX_INPUTS
            continue
        hi += 1
        lo += p.default is p.empty
    return max(lo, 1), min(max(hi, lo, 1), MAX_INPUTS)


class WasmOp:
    """One layer or primitive on wasm: its translator, attributes (weights as numpy) and programs."""

    def __init__(self, label: str, name: str, attrs: dict, backend: _Backend, frontend: str = "mindspore"):
        self.label, self.name, self.attrs, self.backend = label, name, attrs, backend
        self.entry = REGISTRY.lookup(frontend, name)
        if self.entry is None:
            raise UnsupportedError(f"{label}: no wasm translation for {name}")
        self.variants: list[Variant] = []
        self._programs: list[Program] = []
        backend.track(self, self._programs)

    def arities(self) -> tuple[int, int]:
        return _arities(self.entry.translate)

    def variant(self, sig: tuple) -> Variant:
        found = self.find(sig)
        if found is not None:
            return found
        g = GraphBuilder()
        g.label = self.label
        inputs, refs = [], {}
        for i, (shape, dtype, const) in enumerate(sig):
            if const is None:
                refs[i] = TensorRef(shape, dtype)
            inputs.append(refs.get(i, const))
        try:
            out = self.entry.translate(g, self.attrs, *inputs)
        except TypeError as exc:
            raise TypeError(f"{self.label}: {exc}") from None
        except (ValueError, KeyError, NotImplementedError) as exc:
            raise UnsupportedError(f"{self.label}: {exc}") from None
        if not isinstance(out, TensorRef):
            raise UnsupportedError(f"{self.label}: every input is a constant, so there is nothing to run on wasm")
        return self.add_variant(tuple(sig), g, refs, out)

    def add_variant(self, sig: tuple, g: GraphBuilder, refs: dict[int, TensorRef], out: TensorRef) -> Variant:
        """Compile the recorded steps into a program for this signature."""
        with self.backend.locked() as rt:
            program = Program(rt, g.steps, {f"in{i}": r for i, r in refs.items()}, {"y": out})
        self._programs.append(program)
        variant = Variant(tuple(sig), program, refs, out)
        self.variants.append(variant)
        return variant

    def find(self, sig: tuple) -> Variant | None:
        for v in self.variants:
            if len(v.sig) == len(sig) and all(_same(a, b) for a, b in zip(v.sig, sig, strict=True)):
                return v
        return None

    def run(self, values: list) -> np.ndarray:
        """pyfunc path: the program whose signature matches these arrays, run once."""
        # MindSpore hands 0-d inputs (scalar constants) to a pyfunc as Python numbers
        # (a 0-d float32 tensor, a gradient's dout, arrives as a Python float: float32 is what it was)
        values = [
            x if isinstance(x, np.ndarray) else np.asarray(x, np.float32 if isinstance(x, float) else None)
            for x in values
        ]
        for v in self.variants:
            if len(v.sig) == len(values) and all(
                x.shape == s and (c is None and x.dtype == d or c is not None and np.array_equal(x, c))
                for x, (s, d, c) in zip(values, v.sig, strict=True)
            ):
                feeds = {f"in{i}": np.ascontiguousarray(values[i]) for i in v.refs}
                with self.backend.locked():
                    return v.program.run(feeds)["y"]
        shapes = [(x.shape, str(x.dtype)) for x in values]
        raise RuntimeError(f"{self.label}: no wasm program was built for inputs {shapes}")


_OP_IDS = itertools.count()


class WasmCustom(ops.Custom):
    """ops.Custom whose output shape / dtype come from translating the op for the inferred inputs."""

    def __init__(self, func, wasm_op: WasmOp, total: int, baked: dict[int, np.ndarray], func_type: str):
        super().__init__(func, out_shape=_unused, out_dtype=_unused, func_type=func_type)
        # a unique attribute: MindSpore caches inferred outputs per primitive attributes, and an aot slot
        # (the same function name) is reused by a later op once its op is gone
        self.add_prim_attr("wasmops_op", next(_OP_IDS))
        self._wasm_op, self._total, self._baked = wasm_op, total, baked
        self._on_variant = None
        #: every input is a run-time tensor, even one whose value GRAPH_MODE knows (a gradient's dout of ones)
        self.runtime_inputs = False
        self._registered: set[int] = set()  # ids of the variants the aot slot already holds

    def __infer__(self, *args):
        op, it, sig = self._wasm_op, iter(args), []
        for i in range(self._total):
            if i in self._baked:
                c = self._baked[i]
                sig.append((c.shape, c.dtype, c))
                continue
            a = next(it)
            shape = tuple(int(d) for d in a["shape"])
            if any(d < 0 for d in shape):
                raise ValueError(f"{op.label}: dynamic shape {shape}: wasm programs are built per static shape")
            value = None if self.runtime_inputs else a.get("value")
            const = None if value is None else np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value)
            sig.append((shape, _np_dtype(a["dtype"], op.label), const))
        variant = op.variant(tuple(sig))
        if self._on_variant is not None and id(variant) not in self._registered:
            self._on_variant(self, variant)
            self._registered.add(id(variant))
        return {"shape": list(variant.out.shape), "dtype": _NP_TO_MS[variant.out.dtype], "value": None}


def _unused(*args):  # out_shape / out_dtype placeholders: WasmCustom.__infer__ replaces both
    return args[0]


# ---- backends -----------------------------------------------------------------------------------------
class _Backend:
    name = ""

    def locked(self):
        raise NotImplementedError

    def track(self, op: WasmOp, programs: list[Program]) -> None:
        pass

    def new_slot(self, owner: object) -> int | None:
        return None

    def make_op(self, wasm_op: WasmOp, total: int, baked: dict, slot: int | None) -> WasmCustom:
        raise NotImplementedError


class PyfuncBackend(_Backend):
    name = "pyfunc"

    def __init__(self) -> None:
        self.runtime = default_runtime()

    @contextlib.contextmanager
    def locked(self):
        with self.runtime.lock:
            yield self.runtime

    def make_op(self, wasm_op: WasmOp, total: int, baked: dict, slot: int | None) -> WasmCustom:
        runner = Runner(wasm_op, baked, total)
        return WasmCustom(getattr(runner, f"call{total - len(baked)}"), wasm_op, total, baked, "pyfunc")


class AotBackend(_Backend):
    name = "aot"

    def __init__(self) -> None:
        self.shim = ms_aot.shim()

    def locked(self):
        return self.shim.locked()

    def track(self, op: WasmOp, programs: list[Program]) -> None:
        weakref.finalize(op, self.shim.bury, programs).atexit = False

    def new_slot(self, owner: object) -> int:
        return self.shim.acquire_slot(owner)

    def make_op(self, wasm_op: WasmOp, total: int, baked: dict, slot: int | None) -> WasmCustom:
        op = WasmCustom(f"{self.shim.path}:wasmops_slot_{slot}", wasm_op, total, baked, "aot")
        op._on_variant = functools.partial(self._register, slot)
        return op

    def _register(self, slot: int, op: WasmCustom, variant: Variant) -> None:
        params = [(s, d, c, variant.refs.get(i)) for i, (s, d, c) in enumerate(variant.sig) if i not in op._baked]
        self.shim.add_variant(slot, ms_aot.variant_record(variant.program, params, variant.out))


_BACKENDS: dict[str, _Backend] = {}


def get_backend(name: str) -> _Backend:
    if name not in ("pyfunc", "aot"):
        raise ValueError(f"backend must be 'pyfunc' or 'aot', got {name!r}")
    if name not in _BACKENDS:
        _BACKENDS[name] = PyfuncBackend() if name == "pyfunc" else AotBackend()
    return _BACKENDS[name]


# ---- the cell ----------------------------------------------------------------------------------------
class _SlotHolder:
    """Owns an aot slot for as long as any op using it lives."""


def _graph_inputs(args):
    """GRAPH_MODE: every argument as a tensor (constants keep their values for shape inference)."""
    out = ()
    for a in args:
        if isinstance(a, Tensor):
            out = out + (a,)
        elif isinstance(a, (tuple, list)):
            if len(a) == 0:
                out = out + (ops.zeros((0,), mstype.int64),)
            elif isinstance(a[0], Tensor):
                out = out + tuple(a)
            else:
                out = out + (ops.tuple_to_array(a),)
        else:
            out = out + (ops.scalar_to_tensor(a),)
    return out


def _const(value) -> np.ndarray:
    if isinstance(value, tuple | list) and len(value) == 0:
        return np.zeros((0,), np.int64)
    return np.asarray(value)


class WasmCell(nn.Cell):
    """Runs one WasmOp: called like the cell or primitive it replaces."""

    def __init__(self, wasm_op: WasmOp):
        super().__init__(auto_prefix=False)
        self._wasm_op = wasm_op
        self._lo, self._hi = wasm_op.arities()
        holder = _SlotHolder()
        slot = wasm_op.backend.new_slot(holder)
        ops_ = []
        for n in range(self._lo, self._hi + 1):
            op = wasm_op.backend.make_op(wasm_op, n, {}, slot)
            op._slot_holder = holder
            ops_.append(op)
        self.arity_ops = tuple(ops_)  # one Custom per input count, sharing one aot slot
        self._eager: dict[tuple, WasmCustom] = {}

    def construct(self, *args):
        inputs = _graph_inputs(args)
        return self.arity_ops[len(inputs) - self._lo](*inputs)

    def __call__(self, *args, **kwargs):
        if kwargs or _get_mode() != ms.PYNATIVE_MODE:
            return super().__call__(*args, **kwargs)
        tensors, baked = [], {}
        for a in args:
            if isinstance(a, Tensor):
                tensors.append(a)
            elif isinstance(a, tuple | list) and a and all(isinstance(t, Tensor) for t in a):
                tensors.extend(a)
            else:
                baked[len(tensors) + len(baked)] = _const(a)
        total = len(tensors) + len(baked)
        if not self._lo <= total <= self._hi:
            raise TypeError(f"{self._wasm_op.label}: takes {self._lo} to {self._hi} inputs, got {total}")
        if not baked:
            return self.arity_ops[total - self._lo](*tensors)
        key = (total, tuple((p, c.dtype.str, c.shape, c.tobytes()) for p, c in sorted(baked.items())))
        op = self._eager.get(key)
        if op is None:
            holder = _SlotHolder()
            op = self._wasm_op.backend.make_op(self._wasm_op, total, baked, self._wasm_op.backend.new_slot(holder))
            op._slot_holder = holder
            self._eager[key] = op
        return op(*tensors)

    def extend_repr(self) -> str:
        return f"{self._wasm_op.label}, backend={self._wasm_op.backend.name}"

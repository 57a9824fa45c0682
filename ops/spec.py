"""What an operator is: its kernels (TE compute + wasm schedule), its dispatch rule and its numpy reference.

This module must not know about wasmtime or any framework. TVM is imported only inside kernel builders,
so the runtime (wasmtime + numpy) can read op specs without the compiler installed.
"""

from __future__ import annotations

import contextvars
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

TENSOR, INT, FLOAT = "tensor", "int", "float"

#: Set while a graph is translated: plans may then pack constant weights once, on the host, into the layout
#: their kernels read (`_packed` kernel variants), instead of repacking them inside every call.
PACK_CONSTANTS: contextvars.ContextVar[bool] = contextvars.ContextVar("wasmops_pack_constants", default=False)


def packs_constant(weight: Any) -> bool:
    return PACK_CONSTANTS.get() and isinstance(weight, np.ndarray)


#: elements per block of a `blocked` call: 64 bytes of float32 / int32, four v128 registers
BLOCK = 16

#: dtypes the library computes in, with their short kernel-name prefixes.
DTYPE_PREFIX = {np.dtype("float32"): "f32", np.dtype("int32"): "i32"}


@dataclass(frozen=True)
class Kernel:
    """One dispatch-table entry: a shape-generic TIR function the builder compiles to wasm.

    The kernel ABI is positional: every tensor argument (inputs, then the output) and then the scalars,
    in the order `params` lists them.
    """

    name: str  # "<dtype>_<op>[_<variant>]", e.g. "f32_conv2d_nchw_gemm"
    build: Callable[..., Any]  # () -> scheduled tvm PrimFunc; only the builder calls it
    params: tuple[str, ...]
    #: a tunable kernel: the register tiles `build(tile=...)` takes (ops/_tile_sizes.py). The library then
    #: also has an entry per shape class, `<name>__<class>`, built with that class's tuned tile.
    tiles: tuple = ()

    def entries(self) -> list[str]:
        """Its dispatch-table names: the kernel (hand tile), then one per shape class if it is tunable."""
        from ._tile_sizes import SHAPE_CLASSES

        return [self.name] + [f"{self.name}__{c}" for c in SHAPE_CLASSES] * bool(self.tiles)


class Prev:
    """Marks a Call input as the previous Call's output, which stays in wasm memory."""


class TensorRef:
    """A tensor that lives in wasm memory (graph sessions): plans see only its metadata.

    Plans must treat inputs through `shape`, `dtype`, `ndim`, `size`, `nbytes` and `reshape` only, so the
    same plan serves numpy arrays (the numpy API) and tensors already in wasm memory (graphs). A reshape
    aliases the same buffer, as numpy's does.
    """

    __slots__ = ("shape", "dtype", "buffer")

    def __init__(self, shape: tuple[int, ...], dtype, buffer: object | None = None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.buffer = buffer if buffer is not None else object()

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    def reshape(self, *shape) -> TensorRef:
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int | np.integer) else shape
        if -1 in shape:
            known = math.prod(d for d in shape if d != -1)
            shape = tuple(self.size // known if d == -1 and known else d for d in shape)
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape tensor of size {self.size} into shape {shape}")
        return TensorRef(shape, self.dtype, self.buffer)

    def __repr__(self) -> str:
        return f"TensorRef(shape={self.shape}, dtype={self.dtype})"


PREV = Prev()


@dataclass(slots=True)
class Call:
    """One kernel invocation the runtime performs; `plan` returns one or a chain of these."""

    kernel: str
    inputs: Sequence[np.ndarray | TensorRef | Prev]
    out_shape: tuple[int, ...]
    out_dtype: np.dtype
    scalars: tuple[int | float, ...] = ()
    result_shape: tuple[int, ...] | None = None  # the public shape of the output, if the kernel's differs
    # blocked: the kernel sees every tensor as (ceil(size / BLOCK), BLOCK). Buffers in wasm memory are padded
    # to 64 bytes, so the padding exists; a loop of whole blocks vectorises with no per-element predicate.
    blocked: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.out_dtype, np.dtype):
            self.out_dtype = np.dtype(self.out_dtype)
        if type(self.out_shape) is not tuple:
            self.out_shape = tuple(int(d) for d in self.out_shape)


#: the dtype a refused one casts to without changing its kind (the hint in DtypeError's message)
_NARROWER = {"f": "float32", "i": "int32", "u": "int32", "b": "bool"}


class DtypeError(TypeError):
    """An array of a dtype the op does not compute in (float64, int64, ...). The message says how to cast;
    `wasmops.numpy.allow_casting()` casts for the caller and logs each cast."""

    def __init__(self, op: str, what: str, dtype: np.dtype, allowed: tuple[np.dtype, ...]):
        self.op, self.what, self.dtype, self.allowed = op, what, np.dtype(dtype), allowed
        names = " or ".join(str(d) for d in allowed)
        target = _NARROWER.get(self.dtype.kind)
        hint = ""
        if target and np.dtype(target) in allowed:
            hint = f": cast it with {what}.astype(np.{target})"
            if self.dtype.kind in "iu":
                hint += " (its values must fit)"
        elif self.dtype.kind in "iub" and np.dtype("float32") in allowed:
            hint = f": cast it with {what}.astype(np.float32)"
        super().__init__(f"{op}: {what} has dtype {self.dtype}; expected {names}{hint}")


class Op:
    """Base of every operator. Subclasses set `name` and write `kernels`, `reference` and `plan`.

    `plan` has the public signature of the op (the numpy binding copies it) and its docstring is the
    user-facing documentation: shapes, layouts, attributes.
    """

    name: ClassVar[str]
    uses: ClassVar[tuple[str, ...]] = ()  # other ops whose kernels this op's plans call

    def kernels(self) -> list[Kernel]:
        raise NotImplementedError

    def reference(self, *args: Any, **attrs: Any) -> np.ndarray:
        raise NotImplementedError

    def plan(self, *args: Any, **attrs: Any) -> Call | list[Call]:
        raise NotImplementedError

    # ---- helpers shared by every op's validation -----------------------------------------------------
    def tensor(
        self, value: Any, what: str, dtypes: Sequence[str] = ("float32",), ndim: int | Sequence[int] | None = None
    ) -> np.ndarray:
        """Validate one tensor argument: numpy-style TypeError for dtype, ValueError for rank.

        ndarrays must already carry a supported dtype; plain Python data (lists, scalars) has no declared
        dtype and is converted to float32 / int32, as a user of a float32 library expects.
        """
        allowed = _dtypes(tuple(dtypes))
        if isinstance(value, TensorRef):
            arr = value
        elif isinstance(value, np.ndarray | np.generic):
            arr = np.asarray(value)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind == "f" and np.dtype("float32") in allowed:
                arr = arr.astype(np.float32)
            elif arr.dtype.kind in "iub" and np.dtype("int32") in allowed:
                arr = arr.astype(np.int32)
            elif arr.dtype.kind in "iub" and np.dtype("float32") in allowed:
                arr = arr.astype(np.float32)
        if arr.dtype not in allowed:
            raise DtypeError(self.name, what, arr.dtype, tuple(np.dtype(d) for d in dtypes))
        if ndim is not None:
            ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
            if arr.ndim not in ranks:
                want = " or ".join(str(r) for r in ranks)
                raise ValueError(f"{self.name}: {what} must have rank {want}, got shape {arr.shape}")
        if isinstance(arr, TensorRef) or arr.flags.c_contiguous:
            return arr
        return arr.copy(order="C")  # keeps 0-d arrays 0-d, unlike np.ascontiguousarray

    def bias(self, value: Any, n: int, what: str = "bias") -> np.ndarray:
        """An optional per-channel float32 vector of length n; None becomes zeros (kernels always add one)."""
        if value is None:
            return np.zeros(n, np.float32)
        vec = self.tensor(value, what, ndim=1)
        if vec.shape != (n,):
            raise self.fail(f"{what} must have shape ({n},), got {vec.shape}")
        return vec

    def weak_scalar(self, scalar: Any, arr: Any, scalar_name: str, arr_name: str) -> np.ndarray:
        """A Python scalar operand takes the array operand's dtype (numpy's weak-scalar rule), except a float
        against int32, where numpy would compute in float64 and wasmops refuses instead."""
        if isinstance(scalar, float) and arr.dtype.kind == "i":
            raise TypeError(
                f"{self.name}: {scalar_name} is a Python float and {arr_name} is {arr.dtype}; "
                "numpy would compute in float64, which wasmops does not: cast to float32"
            )
        try:
            return np.asarray(scalar, arr.dtype)
        except OverflowError as exc:  # an int that does not fit int32, as numpy refuses it
            raise OverflowError(f"{self.name}: {exc}") from None

    def same_dtype(self, *arrays: np.ndarray) -> np.dtype:
        dtypes = {a.dtype for a in arrays}
        if len(dtypes) != 1:
            raise TypeError(f"{self.name}: inputs have different dtypes {sorted(map(str, dtypes))}")
        return arrays[0].dtype

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.name}: {message}")

    def ints(self, value: int | Sequence[int], n: int, what: str, minimum: int | None = None) -> tuple[int, ...]:
        """Expand an int-or-tuple attribute (PyTorch / numpy style) to n ints and range-check it."""
        vals = (value,) * n if isinstance(value, int | np.integer) else tuple(value)
        if len(vals) != n or not all(isinstance(v, int | np.integer) for v in vals):
            raise self.fail(f"{what} must be an int or a sequence of {n} ints, got {value!r}")
        if minimum is not None and any(v < minimum for v in vals):
            raise self.fail(f"{what} must be >= {minimum}, got {value!r}")
        return tuple(int(v) for v in vals)

    def axis(self, axis: int, ndim: int) -> int:
        """Normalise a numpy-style (possibly negative) axis, raising numpy's AxisError type on a miss."""
        if not -ndim <= axis < ndim:
            raise np.exceptions.AxisError(f"{self.name}: axis {axis} is out of bounds for array of dimension {ndim}")
        return axis % ndim


@functools.cache
def _dtypes(names: tuple[str, ...]) -> frozenset[np.dtype]:
    return frozenset(np.dtype(d) for d in names)


def prefix(dtype: np.dtype) -> str:
    return DTYPE_PREFIX[np.dtype(dtype)]


@dataclass
class OpTable:
    """All ops, by name; built by scanning the ops package so adding an op file is enough."""

    ops: dict[str, Op] = field(default_factory=dict)

    def add(self, op: Op) -> None:
        if op.name in self.ops:
            raise ValueError(f"op {op.name!r} is defined twice")
        self.ops[op.name] = op

    def __getitem__(self, name: str) -> Op:
        try:
            return self.ops[name]
        except KeyError:
            raise KeyError(f"no op {name!r}; ops are: {', '.join(sorted(self.ops))}") from None

    def __iter__(self):
        return iter(self.ops.values())

    def kernels(self) -> list[tuple[Op, Kernel]]:
        return [(op, k) for op in self.ops.values() for k in op.kernels()]

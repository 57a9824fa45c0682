"""Load the op library with wasmtime and call kernels through its dispatch table.

Needs only wasmtime and numpy. Owns the instance's linear memory: tensors live in one reusable arena,
call metadata (DLTensors, shapes, TVM FFI argument records) in a fixed block, so a steady-state call
allocates nothing in wasm. Every failure — a TVM argument check, a wasm trap — becomes a Python exception
naming the kernel, and the instance stays usable. Knows nothing about frameworks.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.metadata
import math
import os
import struct
import threading
from ctypes import byref
from pathlib import Path

import numpy as np
import wasmtime
from wasmtime import _bindings
from wasmtime import _ffi as ffi

from ..ops.spec import BLOCK, PREV, Call
from . import manifest as mf
from .manifest import LibraryError, Manifest

LIB_DIR = Path(__file__).parent / "lib"
_WASMTIME_VERSION = importlib.metadata.version("wasmtime")
ALIGN = 64  # every tensor buffer is padded to this: a whole BLOCK of 4-byte elements
MAX_ARGS = 64
MAX_DIMS = 8

_DLTENSOR_SIZE = 40  # wasm32 DLTensor: data, device, ndim, dtype, shape*, strides*, byte_offset


def _blocks(shape: tuple[int, ...]) -> tuple[int, int]:
    """The (blocks, BLOCK) view a blocked kernel gets of a tensor; ALIGN-padded buffers hold the last block."""
    return (-(-math.prod(shape) // BLOCK), BLOCK)


@functools.cache
def _metadata_struct(ndims: tuple[int, ...], float_scalars: tuple[bool, ...]) -> struct.Struct:
    """One struct per call signature: the TVMFFIAny argument array, then each DLTensor and its shape."""
    fmt = "<" + "iiI4x" * len(ndims) + "".join("iid" if f else "iiq" for f in float_scalars)
    return struct.Struct(fmt + "".join(f"IiiiBBHII4xQ{nd}q" for nd in ndims))


# the raw ctypes entry points under wasmtime-py's Python wrappers: one Python frame less per call
_call_unchecked = _bindings._wasmtime_func_call_unchecked
_memory_size = _bindings._wasmtime_memory_data_size
_TYPE_INT, _TYPE_FLOAT, _TYPE_DLTENSOR = 1, 3, 7
_DL_CODES = {"f": 2, "i": 0, "u": 1, "b": 6}


class KernelError(RuntimeError):
    """A kernel refused its arguments or failed; the message names the kernel (and the plan step)."""

    step: int | None = None


class WasmTrap(KernelError):
    """The wasm code trapped (out-of-bounds access, unreachable, ...); the runtime recovered."""


def default_library(relaxed: bool | None = None) -> Path:
    """The library file to load: $WASMOPS_LIBRARY, else the relaxed-SIMD build if wanted and present."""
    env = os.environ.get("WASMOPS_LIBRARY")
    if env:
        return Path(env)
    relaxed_path = LIB_DIR / "wasmops-relaxed.wasm"
    if relaxed is not False and relaxed_path.exists():
        return relaxed_path
    path = LIB_DIR / "wasmops.wasm"
    if not path.exists():
        raise FileNotFoundError(f"no op library at {path}: run `wasmops build` (or `make build`) first")
    return path


def _cache_dir() -> Path:
    root = os.environ.get("WASMOPS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "wasmops"
    )
    return Path(root)


def _load_module(engine: wasmtime.Engine, data: bytes, key: str) -> wasmtime.Module:
    """Compile the module, or deserialize the compiled code cached for this exact module + engine."""
    cache = _cache_dir() / f"{key}.cwasm"
    digest = cache.with_suffix(".sha256")
    try:
        blob = cache.read_bytes()
        if hashlib.sha256(blob).hexdigest() == digest.read_text().strip():
            return wasmtime.Module.deserialize(engine, blob)
    except (OSError, wasmtime.WasmtimeError):
        pass
    try:
        module = wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as exc:
        raise LibraryError(f"wasmtime refused the module: {str(exc).splitlines()[0]}") from None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        blob = module.serialize()
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(blob)
        os.replace(tmp, cache)
        digest.write_text(hashlib.sha256(blob).hexdigest())
    except OSError:
        pass  # a read-only cache only costs compile time
    return module


def instantiate(
    data: bytes, isa: str, key: str, name: str
) -> tuple[wasmtime.Engine, wasmtime.Store, wasmtime.Instance]:
    """An engine configured for `isa`, the module (compiled code cached under `key`) and one instance of it.

    Shared by the op library and compiled graphs: both need the same SIMD flags and a memory that never moves.
    """
    config = wasmtime.Config()
    config.wasm_simd = True
    relaxed = isa == "relaxed-simd"
    config.wasm_relaxed_simd = relaxed
    config.wasm_relaxed_simd_deterministic = relaxed  # same results on every host
    # linear memory never moves: a view of it stays valid as memory grows, so the host refreshes its view
    # only when it needs an address past the end it knows (not after every call)
    config.memory_reservation = 1 << 32
    config.memory_may_move = False
    engine = wasmtime.Engine(config)
    module = _load_module(engine, data, key)
    store = wasmtime.Store(engine)
    try:
        return engine, store, wasmtime.Instance(store, module, [])
    except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
        raise LibraryError(f"cannot instantiate {name}: {exc}") from None


def c_string(mem: np.ndarray, ptr: int) -> str:
    """The NUL-terminated string at `ptr` in a view of linear memory (the kernels' error messages)."""
    end = ptr
    while end < len(mem) and mem[end]:
        end += 1
    return bytes(mem[ptr:end]).decode(errors="replace")


class Runtime:
    """One instance of the op library: its memory, its kernels, its call path. Not thread-safe."""

    def __init__(self, path: str | Path | None = None, relaxed: bool | None = None):
        path = Path(path) if path else default_library(relaxed)
        data, self.manifest = mf.read(path)
        self.path = path
        key = f"{self.manifest.content_hash[:32]}-{self.manifest.isa}-wasmtime{_WASMTIME_VERSION}"
        self.engine, self.store, self.instance = instantiate(data, self.manifest.isa, key, path.name)
        ex = self.instance.exports(self.store)
        self._exports = ex
        self._memory = ex["memory"]
        self._stack_pointer = ex["__stack_pointer"]
        self._stack_top = self._stack_pointer.value(self.store)
        self.index = {k.name: k.index for k in self.manifest.kernels}
        if ex["wasmops_num_kernels"](self.store) != len(self.index):
            raise LibraryError("the module's kernel table does not match its manifest")
        # raw call path: wasmtime_func_call_unchecked with a reused argument array (~1 us instead of ~30)
        self._ctx = self.store._context()
        self._func = ex["wasmops_call"]._func
        self._plan_func = ex["wasmops_run_plan"]._func
        self._raw = (ffi.wasmtime_val_raw * 3)()
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._func_ref, self._trap_ref = byref(self._func), byref(self._trap)
        self._mem_struct = self._memory._memory
        self._view: np.ndarray | None = None
        self._view_len = 0
        self._meta = self.alloc(MAX_ARGS * (16 + _DLTENSOR_SIZE + 8 * MAX_DIMS))
        self._arena = 0
        self._arena_size = 0
        self._prepared: dict[tuple, tuple[int, np.ndarray, int]] = {}
        self._last_prepared: tuple | None = None
        self._layouts: dict[tuple, tuple] = {}
        self.lock = threading.Lock()

    # ---- memory ----------------------------------------------------------------------------------------
    def memory(self) -> np.ndarray:
        """A uint8 view of linear memory, rebuilt only when memory grew."""
        size = _memory_size(self._ctx, byref(self._mem_struct))
        if size != self._view_len:
            ptr = ffi.wasmtime_memory_data(self._ctx, byref(self._mem_struct))
            self._view = np.ctypeslib.as_array(ptr, (size,))
            self._view_len = size
        return self._view  # type: ignore[return-value]

    def alloc(self, nbytes: int) -> int:
        ptr = self._exports["wasmops_alloc"](self.store, int(nbytes))
        self.memory()
        if not ptr:
            raise MemoryError(f"wasm linear memory exhausted allocating {nbytes} bytes")
        return ptr

    def free(self, ptr: int) -> None:
        self._exports["wasmops_free"](self.store, ptr)

    def bytes_in_use(self) -> int:
        return self._exports["wasmops_bytes_in_use"](self.store)

    def _reserve(self, nbytes: int) -> int:
        """The per-call tensor arena: grown (never shrunk) and reused by every call."""
        if nbytes > self._arena_size:
            if self._arena:
                self.free(self._arena)
                self._arena = 0
            size = max(nbytes, 2 * self._arena_size, 1 << 16)
            self._arena = self.alloc(size)
            self._arena_size = size
        return self._arena

    # ---- calls -----------------------------------------------------------------------------------------
    def run(self, calls: Call | list[Call]) -> np.ndarray:
        """Run one call or a chain (later calls may take PREV, the previous output, as an input).

        Tensors are laid out in the arena, host inputs copied in once, and only the last output is copied
        back: a chain's intermediates never leave wasm memory. The layout and the encoded argument records
        depend only on the calls' signature, so they are memoised: a repeated call only copies data and
        crosses into wasm.
        """
        chain = (calls,) if isinstance(calls, Call) else tuple(calls)
        key = tuple(
            (
                c.kernel,
                c.blocked,
                c.scalars,
                c.out_shape,
                c.out_dtype,
                *[None if x is PREV else (x.shape, x.dtype) for x in c.inputs],
            )
            for c in chain
        )
        plan = self._layouts.get(key)
        if plan is None or plan[0] != self._arena:
            plan = self._layouts[key] = self._layout(chain)
            if len(self._layouts) > 256:  # a bounded memo of recent signatures
                self._layouts.pop(next(iter(self._layouts)))
        base, steps, (off, count, dtype) = plan
        mem = self._view
        for call, (copies, prepared) in zip(chain, steps, strict=True):
            for i, at in copies:
                x = call.inputs[i]
                mem[at : at + x.nbytes] = x.reshape(-1).view(np.uint8)
            index, blob, n = prepared
            if prepared is not self._last_prepared:  # the call block still holds these records otherwise
                mem[self._meta : self._meta + len(blob)] = blob
                self._last_prepared = prepared
            self._invoke(call.kernel, index, self._meta, n)
        final = chain[-1].result_shape
        return (
            np.frombuffer(self._view, dtype, count, off).reshape(chain[-1].out_shape if final is None else final).copy()
        )

    def _layout(self, chain) -> tuple[int, list, tuple[int, int, np.dtype]]:
        """Arena offsets for every tensor of a chain, and each call's encoded argument records."""
        placed, total, prev = [], 0, None
        for call in chain:
            tensors, copies = [], []
            for i, x in enumerate(call.inputs):
                if x is PREV:
                    tensors.append(prev if not call.blocked else (prev[0], _blocks(prev[1]), prev[2]))
                else:
                    tensors.append((total, _blocks(x.shape) if call.blocked else x.shape, x.dtype))
                    copies.append((i, total))
                    total = (total + x.nbytes + ALIGN - 1) & ~(ALIGN - 1)
            prev = (total, call.out_shape, call.out_dtype)
            tensors.append(prev if not call.blocked else (total, _blocks(call.out_shape), call.out_dtype))
            total = (total + math.prod(call.out_shape) * call.out_dtype.itemsize + ALIGN - 1) & ~(ALIGN - 1)
            placed.append((call, tensors, copies))
        base = self._arena if total <= self._arena_size else self._reserve(total)  # _reserve refreshes the view
        steps = []
        for call, tensors, copies in placed:
            prepared = self._prepare(call.kernel, [(base + o, s, d) for o, s, d in tensors], call.scalars)
            steps.append(([(i, base + o) for i, o in copies], prepared))
        return base, steps, (base + prev[0], math.prod(prev[1]), prev[2])

    def call(self, kernel: str, tensors: list[tuple[int, tuple[int, ...], np.dtype]], scalars=()) -> None:
        """Low-level call: tensors are (address in wasm memory, shape, dtype), then int/float scalars."""
        key = (kernel, *tensors, *scalars)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = self._prepare(kernel, tensors, scalars)
            if len(self._prepared) > 512:  # a bounded memo of recent call signatures
                self._prepared.pop(next(iter(self._prepared)))
        index, blob, n = prepared
        if prepared is not self._last_prepared:  # the call block still holds these records otherwise
            self._view[self._meta : self._meta + len(blob)] = blob
            self._last_prepared = prepared
        self._invoke(kernel, index, self._meta, n)

    def _prepare(self, kernel: str, tensors, scalars, at: int | None = None) -> tuple[int, np.ndarray, int]:
        """Encode a call's argument records for address `at` (default: the call block): the TVMFFIAny
        array, then each DLTensor followed by its shape. Returns (kernel index, bytes, argument count)."""
        index = self.index.get(kernel)
        if index is None:
            raise KernelError(f"kernel {kernel!r} is not in {self.path.name}")
        n = len(tensors) + len(scalars)
        ndims = tuple(len(t[1]) for t in tensors)
        kinds = tuple(isinstance(v, float) for v in scalars)
        if n > MAX_ARGS or max(ndims, default=0) > MAX_DIMS:
            raise KernelError(f"{kernel}: at most {MAX_ARGS} arguments of at most {MAX_DIMS} dims per call")
        record = (self._meta if at is None else at) + 16 * n
        values: list = []
        records: list = []
        for ptr, shape, dtype in tensors:
            values += (_TYPE_DLTENSOR, 0, record)
            code, bits = _DL_CODES[dtype.kind], dtype.itemsize * 8
            records += (ptr, 1, 0, len(shape), code, bits, 1, record + _DLTENSOR_SIZE, 0, 0, *shape)
            record += _DLTENSOR_SIZE + 8 * len(shape)
        for value, is_float in zip(scalars, kinds, strict=True):
            values += (_TYPE_FLOAT if is_float else _TYPE_INT, 0, value)
        blob = np.frombuffer(_metadata_struct(ndims, kinds).pack(*values, *records), np.uint8)
        return index, blob, n

    def _invoke(self, kernel: str, index: int, args: int, n: int) -> None:
        raw = self._raw
        raw[0].i32, raw[1].i32, raw[2].i32 = index, args, n
        error = _call_unchecked(self._ctx, self._func_ref, raw, 3, self._trap_ref)
        if error or self._trap:
            self._raise_trap(kernel, error)
        rc = raw[0].i32
        if rc != 0:
            raise KernelError(f"{kernel}: {self.last_error() or f'kernel returned status {rc}'}")

    def run_plan(self, table: int, num_steps: int) -> None:
        """Run a step table (see kernels/plan.py) in one host crossing. On failure the exception's
        `step` attribute is the index of the step that failed."""
        raw = self._raw
        raw[0].i32, raw[1].i32 = table, num_steps
        error = _call_unchecked(self._ctx, byref(self._plan_func), raw, 2, byref(self._trap))
        if error or self._trap or raw[0].i32 != 0:
            step = self._exports["wasmops_failed_step"](self.store)
            try:
                if error or self._trap:
                    self._raise_trap(f"plan step {step}", error)
                raise KernelError(f"plan step {step}: {self.last_error() or 'kernel failed'}")
            except KernelError as exc:
                exc.step = step
                raise

    def _raise_trap(self, kernel: str, error) -> None:
        if self._trap:
            message = wasmtime.Trap._from_ptr(self._trap).message
            self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
            self._trap_ref = byref(self._trap)
        else:
            message = str(wasmtime.WasmtimeError._from_ptr(error))
        self.memory()
        # a trap unwinds without restoring the shadow stack; put it back so the next call starts clean
        self._stack_pointer.set_value(self.store, wasmtime.Val.i32(self._stack_top))
        raise WasmTrap(f"{kernel}: wasm trap: {message.splitlines()[0]}")

    def last_error(self) -> str:
        return c_string(self.memory(), self._exports["wasmops_last_error"](self.store))


_DEFAULT: Runtime | None = None
_DEFAULT_LOCK = threading.Lock()


def default_runtime() -> Runtime:
    """The process-wide runtime, loaded on first use."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = Runtime()
    return _DEFAULT


__all__ = ["KernelError", "LibraryError", "Manifest", "Runtime", "WasmTrap", "default_library", "default_runtime"]

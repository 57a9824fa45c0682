"""Load the op library with wasmtime and call kernels through its dispatch table.

Needs only wasmtime and numpy. Owns the instance's linear memory: tensors live in one reusable arena,
call metadata (DLTensors, shapes, TVM FFI argument records) in a fixed block, so a steady-state call
allocates nothing in wasm. Every failure — a TVM argument check, a wasm trap — becomes a Python exception
naming the kernel, and the instance stays usable. Knows nothing about frameworks.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import math
import threading
import weakref
from ctypes import byref
from pathlib import Path

import numpy as np
import wasmtime
from wasmtime import _ffi as ffi

from ..ops._multi import KeepCall
from ..ops.spec import PREV, Call
from . import manifest as mf
from .bound import _THREE, _TWO, Bound, _call_unchecked, _same_bytes
from .call_abi import (  # noqa: F401 - KernelError, WasmTrap, ALIGN, _blocks re-exported
    _DL_CODES,
    _DLTENSOR_SIZE,
    _TYPE_DLTENSOR,
    _TYPE_FLOAT,
    _TYPE_INT,
    ALIGN,
    MAX_ARGS,
    MAX_DIMS,
    KernelError,
    WasmTrap,
    _blocks,
    _memory_size,
    _metadata_struct,
)
from .instances import (  # noqa: F401 - re-exported: the runtime's public face
    MAX_THREADS,
    WORKER_TRAPPED,
    Instances,
    c_string,
    get_num_threads,
    set_num_threads,
)
from .limits import get_timeout, time_limits_default
from .manifest import LibraryError, Manifest
from .module_cache import LIB_DIR, _cache_dir, _prune_cache, default_library  # noqa: F401 - re-exported

_WASMTIME_VERSION = importlib.metadata.version("wasmtime")


class Runtime:
    """One instance of the op library: its memory, its kernels, its call path. Not thread-safe."""

    def __init__(
        self,
        path: str | Path | None = None,
        relaxed: bool | None = None,
        max_memory: int | None = None,
        time_limits: bool | None = None,
    ):
        """`max_memory`: the most linear memory (bytes) it may use (default `set_memory_limit`); `time_limits`:
        build it with epoch interruption so calls can be given a time limit (default: whether one is set)."""
        path = Path(path) if path else default_library(relaxed)
        data, self.manifest = mf.read(path)
        self.path = path
        key = f"{self.manifest.content_hash[:32]}-{self.manifest.isa}-wasmtime{_WASMTIME_VERSION}"
        if time_limits is None:
            time_limits = time_limits_default()
        self.instances = inst = Instances(data, self.manifest.isa, key, path.name, max_memory, time_limits)
        self.store, ex = inst.store, inst.exports
        weakref.finalize(self, inst.stop)  # the workers hold the pool, not this object
        self._exports = ex
        self.index = {k.name: k.index for k in self.manifest.kernels}
        if ex["wasmops_num_kernels"](self.store) != len(self.index):
            raise LibraryError("the module's kernel table does not match its manifest")
        # raw call path: wasmtime_func_call_unchecked with a reused argument array (~1 us instead of ~30)
        self._ctx = self.store._context()
        self._ctx_arg = ctypes.c_void_p(ctypes.cast(self._ctx, ctypes.c_void_p).value)
        self._func = ex["wasmops_call"]._func
        self._plan_func = ex["wasmops_run_plan"]._func
        self._raw = (ffi.wasmtime_val_raw * 3)()
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._func_ref, self._trap_ref = byref(self._func), byref(self._trap)
        self._mem_ptr = inst.memory.ptr()
        self._view: np.ndarray | None = None
        self._view_len = 0
        self._meta = self.alloc(MAX_ARGS * (16 + _DLTENSOR_SIZE + 8 * MAX_DIMS))
        self._arena = 0
        self._arena_size = 0
        self._arena_epoch = 0
        self._prepared: dict[tuple, tuple[int, np.ndarray, int]] = {}
        self._last_prepared: tuple | None = None
        self._layouts: dict[tuple, tuple] = {}
        self.lock = threading.Lock()

    # ---- memory ----------------------------------------------------------------------------------------
    def memory(self) -> np.ndarray:
        """A uint8 view of linear memory, rebuilt only when memory grew."""
        size = _memory_size(self._mem_ptr)
        if size != self._view_len:
            self._view = self.instances.view()
            self._view_len = len(self._view)
        return self._view  # type: ignore[return-value]

    def alloc(self, nbytes: int) -> int:
        # wasm returns an i32: addresses at or above 2 GiB come back negative from wasmtime
        ptr = self._exports["wasmops_alloc"](self.store, int(nbytes)) & 0xFFFFFFFF
        self.memory()
        if not ptr:
            raise MemoryError(f"wasm linear memory exhausted allocating {nbytes} bytes")
        return ptr

    def free(self, ptr: int) -> None:
        self._exports["wasmops_free"](self.store, ptr - (1 << 32) if ptr >= 1 << 31 else ptr)

    def bytes_in_use(self) -> int:
        return self._exports["wasmops_bytes_in_use"](self.store)

    def _reserve(self, nbytes: int) -> int:
        """The per-call tensor arena: grown (never shrunk) and reused by every call."""
        if nbytes > self._arena_size:
            size = max(nbytes, 2 * self._arena_size, 1 << 16)
            if self._arena:
                self.free(self._arena)
            # no arena until the new one exists: after a MemoryError the next call allocates afresh
            self._arena, self._arena_size = 0, 0
            self._arena_epoch += 1  # Bound calls laid out in the old arena are stale
            try:
                self._arena = self.alloc(size)
            except MemoryError:
                if size == nbytes:
                    raise
                self._arena, size = self.alloc(nbytes), nbytes  # doubling did not fit: exactly what is needed
            self._arena_size = size
        return self._arena

    # ---- calls -----------------------------------------------------------------------------------------
    def run(self, calls: Call | list[Call]) -> np.ndarray | list[np.ndarray]:
        """Run one call or a chain (later calls may take PREV, the previous output, as an input).

        Tensors are laid out in the arena, host inputs copied in once, and only the last output is copied
        back: a chain's intermediates never leave wasm memory, except the outputs of KeepCalls (a
        multi-output op's other results): then the result is a list, kept outputs first, in order. The
        layout and the encoded argument records depend only on the calls' signature, so they are memoised:
        a repeated call only copies data and crosses into wasm.
        """
        chain = (calls,) if isinstance(calls, Call) else tuple(calls)
        key = tuple(
            (
                c.kernel,
                c.blocked,
                type(c) is KeepCall,
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
        base, steps, (off, count, dtype), kept = plan
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
        last = np.frombuffer(self._view, dtype, count, off).reshape(chain[-1].out_shape if final is None else final)
        if not kept:
            return last.copy()
        return [np.frombuffer(self._view, d, math.prod(s), o).reshape(s).copy() for o, s, d in kept] + [last.copy()]

    def bind(self, calls: Call | list[Call], args: tuple) -> Bound | None:
        """The fast path of one call signature: `calls` (a plan of `args`) laid out once, with a numpy view
        per host input and for the output, so that a repeat call with arrays of the same shapes, strides and
        dtypes is copy in, one crossing into wasm, copy out. None when the chain's host inputs are not
        exactly `args` (as is, or a contiguous reshape): a plan that converts or packs an argument, or
        reads one as an attribute, must run every call."""
        chain = (calls,) if isinstance(calls, Call) else tuple(calls)
        if any(type(c) is KeepCall for c in chain):  # several results: run() only
            return None
        base, steps, (off, count, dtype), _ = self._layout(chain)
        mem, copies, used = self._view, [], set()
        for call, (cps, _) in zip(chain, steps, strict=True):
            for i, at in cps:
                x = call.inputs[i]
                j = next((j for j, a in enumerate(args) if j not in used and _same_bytes(a, x)), None)
                if j is None:
                    return None
                used.add(j)
                copies.append((np.frombuffer(mem, x.dtype, x.size, at).reshape(args[j].shape), j))
        if len(used) != len(args):
            return None
        final = chain[-1].out_shape if chain[-1].result_shape is None else chain[-1].result_shape
        out = np.frombuffer(mem, dtype, count, off).reshape(final)
        return Bound(self, tuple(copies), [(c.kernel, p) for c, (_, p) in zip(chain, steps, strict=True)], out)

    def _layout(self, chain) -> tuple[int, list, tuple[int, int, np.dtype], list]:
        """Arena offsets for every tensor of a chain, each call's encoded argument records, the final
        output and the kept outputs (address, result shape, dtype)."""
        placed, total, prev, kept = [], 0, None, []
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
            if type(call) is KeepCall:
                kept.append((total, call.result_shape or call.out_shape, call.out_dtype))
            tensors.append(prev if not call.blocked else (total, _blocks(call.out_shape), call.out_dtype))
            total = (total + math.prod(call.out_shape) * call.out_dtype.itemsize + ALIGN - 1) & ~(ALIGN - 1)
            placed.append((call, tensors, copies))
        base = self._arena if total <= self._arena_size else self._reserve(total)  # _reserve refreshes the view
        steps = []
        for call, tensors, copies in placed:
            prepared = self._prepare(call.kernel, [(base + o, s, d) for o, s, d in tensors], call.scalars)
            steps.append(([(i, base + o) for i, o in copies], prepared))
        kept = [(base + o, s, d) for o, s, d in kept]
        return base, steps, (base + prev[0], math.prod(prev[1]), prev[2]), kept

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
        if self.instances.threads != get_num_threads():
            self.instances.sync_threads()
        raw = self._raw
        raw[0].i32, raw[1].i32, raw[2].i32 = index, args, n
        timeout = get_timeout()
        if timeout is None:
            error = _call_unchecked(self._ctx_arg, self._func_ref, raw, _THREE, self._trap_ref)
            if error or self._trap or raw[0].i32:
                self._failed(kernel, error)
            return
        with self.time_limit(kernel, timeout):
            error = _call_unchecked(self._ctx_arg, self._func_ref, raw, _THREE, self._trap_ref)
            if error or self._trap or raw[0].i32:
                self._failed(kernel, error)

    @contextlib.contextmanager
    def time_limit(self, what: str, seconds: float):
        """Run the block's call into wasm with a deadline: past it the call is interrupted (epoch
        interruption, kernels/limits.py), the pool recovered, and TimeoutError names `what`."""
        token = self.instances.start_timed(seconds, what)
        try:
            yield
        except KernelError as exc:
            if self.instances.end_timed(token):
                timeout = TimeoutError(f"{what}: interrupted after its time limit of {seconds:g} s")
                timeout.step = exc.step
                raise timeout from None
            raise
        self.instances.end_timed(token)  # finished (maybe just past the limit): the result is whole

    def _failed(self, kernel: str, error) -> None:
        """Raise for the call that just returned: a trap (or wasmtime error), else the kernel's status."""
        self.instances.clear_deadline()  # an interrupted call's deadline has passed: the calls below run
        if error or self._trap:
            self._raise_trap(kernel, error)
        self._raise_status(kernel, self._raw[0].i32)

    def _raise_status(self, what: str, rc: int) -> None:
        if rc == WORKER_TRAPPED:
            raise WasmTrap(f"{what}: wasm trap in a worker thread: {self.instances.worker_trap}")
        raise KernelError(f"{what}: {self.last_error() or f'kernel returned status {rc}'}")

    def run_plan(self, table: int, num_steps: int) -> None:
        """Run a step table (see kernels/plan.py) in one host crossing. On failure the exception's
        `step` attribute is the index of the step that failed."""
        if self.instances.threads != get_num_threads():
            self.instances.sync_threads()
        timeout = get_timeout()
        if timeout is None:
            self._run_plan(table, num_steps)
        else:
            with self.time_limit("plan", timeout):
                self._run_plan(table, num_steps)

    def _run_plan(self, table: int, num_steps: int) -> None:
        raw = self._raw
        raw[0].i32, raw[1].i32 = table, num_steps
        error = _call_unchecked(self._ctx_arg, byref(self._plan_func), raw, _TWO, self._trap_ref)
        if error or self._trap or raw[0].i32 != 0:
            self.instances.clear_deadline()  # an interrupted call's deadline has passed: the calls below run
            step = self._exports["wasmops_failed_step"](self.store)
            try:
                if error or self._trap:
                    self._raise_trap(f"plan step {step}", error)
                self._raise_status(f"plan step {step}", raw[0].i32)
            except KernelError as exc:
                exc.step = step
                raise

    def _raise_trap(self, kernel: str, error) -> None:
        if self._trap:
            message = wasmtime.Trap._from_ptr(self._trap).message
            self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
            self._trap_ref = byref(self._trap)
            self._arena_epoch += 1  # Bound calls hold the old trap slot: rebind
        else:
            message = str(wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t))))
        self.memory()
        # a trap unwinds without restoring the shadow stack or finishing a parallel launch
        self.instances.recover()
        raise WasmTrap(f"{kernel}: wasm trap: {message.splitlines()[0]}")

    def last_error(self) -> str:
        return c_string(self.memory(), self._exports["wasmops_last_error"](self.store))


_DEFAULT: Runtime | None = None
_TIMED: Runtime | None = None
_DEFAULT_LOCK = threading.Lock()


def default_runtime(timed: bool = False) -> Runtime:
    """The process-wide runtime, loaded on first use. `timed`: one that takes time limits (the same one if
    it was built with them, else a second one, loaded the first time a call has a time limit)."""
    global _DEFAULT, _TIMED
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = Runtime()
    if not timed or _DEFAULT.instances.time_limits:
        return _DEFAULT
    if _TIMED is None:
        with _DEFAULT_LOCK:
            if _TIMED is None:
                _TIMED = Runtime(time_limits=True)
    return _TIMED


__all__ = [
    "Bound",
    "Instances",
    "KernelError",
    "LibraryError",
    "Manifest",
    "Runtime",
    "WasmTrap",
    "default_library",
    "default_runtime",
    "get_num_threads",
    "set_num_threads",
]

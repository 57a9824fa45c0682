"""The MindSpore "aot" shim: ms_aot.c compiled on first use, bound to its own op-library instance.

The shim is built with the machine's C compiler into the wasmops cache directory, keyed by the hash of
its source and of the wasmtime library it links (the one the wasmtime wheel ships and this process has
already loaded, so both share one copy). It gets its own Runtime: MindSpore calls the shim from its
worker threads while Python builds programs during shape inference, and every use of that instance —
from C or from Python — happens under the shim's mutex.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import threading
import weakref
from pathlib import Path

import numpy as np
from wasmtime import _ffi as ffi

from ..kernels.plan import Program
from ..kernels.runtime import Runtime, _cache_dir

SOURCE = Path(__file__).with_name("ms_aot.c")
DTYPE_CODES = {
    name: i + 1
    for i, name in enumerate(
        ["float32", "int32", "int64", "float64", "float16", "bool", "int8", "uint8", "int16", "bfloat16"]
    )
}


class AotBuildError(RuntimeError):
    """The shim could not be compiled (no C compiler, or the compiler failed); the pyfunc backend still works."""


def build_shim() -> Path:
    """Compile ms_aot.c (once per source + wasmtime library) and return the shared library's path."""
    wasmtime_lib = Path(ffi.filename).resolve()
    if not SOURCE.exists():
        raise AotBuildError(f"{SOURCE} is missing from this installation; use backend='pyfunc'")
    source = SOURCE.read_bytes()
    version = importlib.metadata.version("wasmtime")
    key = hashlib.sha256(source + str(wasmtime_lib).encode() + version.encode()).hexdigest()[:20]
    out = _cache_dir() / f"ms_aot-{key}.so"
    if out.exists():
        return out
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise AotBuildError("the aot backend needs a C compiler (cc, gcc or clang, or $CC); use backend='pyfunc'")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.tmp{os.getpid()}.so")
    cmd = [cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE), f"-L{wasmtime_lib.parent}",
           f"-l:{wasmtime_lib.name}", f"-Wl,-rpath,{wasmtime_lib.parent}", "-lpthread"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise AotBuildError(f"compiling {SOURCE.name} failed ({' '.join(cmd)}):\n{done.stderr.strip()}")
    os.replace(tmp, out)
    return out


def variant_record(program: Program, params: list[tuple], out) -> np.ndarray:
    """Encode one variant for the shim. params: (shape, dtype, const or None, TensorRef or None) for every
    input MindSpore passes; out: the program's output TensorRef. See the layout in ms_aot.c."""
    words = [0, len(params) + 1, program.table, len(program.steps)]
    for shape, dtype, const, ref in params:
        words += [0 if const is None else 1, DTYPE_CODES.get(np.dtype(dtype).name, 0), len(shape), *shape]
        if const is None:
            words += [program.address[ref.buffer], ref.nbytes]
        else:
            data = np.ascontiguousarray(const).tobytes()
            words += [len(data), *np.frombuffer(data.ljust(-(-len(data) // 8) * 8, b"\0"), "<i8").tolist()]
    words += [2, DTYPE_CODES[out.dtype.name], len(out.shape), *out.shape, program.address[out.buffer], out.nbytes]
    words[0] = len(words)
    return np.asarray(words, np.int64)


class Shim:
    """The loaded shim: slot allocation, variant tables, and the lock shared with the C side."""

    def __init__(self) -> None:
        self.path = build_shim()
        lib = ctypes.CDLL(str(self.path))
        self.lib = lib
        lib.wasmops_aot_init.argtypes = [ctypes.c_void_p] * 7
        lib.wasmops_aot_set_slot.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int64]
        lib.wasmops_aot_last_error.restype = ctypes.c_char_p
        self.runtime = rt = Runtime()
        self._last_error = rt._exports["wasmops_last_error"]  # keep the Funcs (and their structs) alive
        self._recover = rt._exports["wasmops_recover"]
        self._top = ffi.wasmtime_val_t()
        self._top.kind = ffi.WASMTIME_I32.value
        self._top.of.i32 = rt.instances.stack_top
        lib.wasmops_aot_init(
            ctypes.cast(rt._ctx, ctypes.c_void_p),
            ctypes.addressof(rt._plan_func),
            ctypes.addressof(self._last_error._func),
            ctypes.addressof(self._recover._func),
            ctypes.cast(rt.instances.memory.ptr(), ctypes.c_void_p),
            ctypes.addressof(rt.instances.stack_pointer._global),
            ctypes.addressof(self._top),
        )
        self._free = list(range(lib.wasmops_aot_num_slots() - 1, -1, -1))
        self._records: dict[int, list[np.ndarray]] = {}
        self._tables: dict[int, np.ndarray] = {}
        self._graveyard: list[Program] = []  # programs to free at the next locked section
        self._owner = threading.local()

    @contextlib.contextmanager
    def locked(self):
        """Hold the shim's mutex (re-entrant per thread); frees programs of ops that were collected."""
        depth = getattr(self._owner, "depth", 0)
        if depth == 0:
            self.lib.wasmops_lock()  # ctypes drops the GIL while it waits
        self._owner.depth = depth + 1
        try:
            if depth == 0:
                while self._graveyard:
                    self._graveyard.pop().close()
                self.runtime.instances.sync_threads()  # shim calls never pass through Python: adapt here
            yield self.runtime
        finally:
            self._owner.depth = depth
            if depth == 0:
                self.lib.wasmops_unlock()

    def acquire_slot(self, owner: object) -> int:
        if not self._free:
            raise RuntimeError(f"all {self.lib.wasmops_aot_num_slots()} aot slots are in use")
        slot = self._free.pop()
        weakref.finalize(owner, self._release, slot).atexit = False
        return slot

    def _release(self, slot: int) -> None:
        with self.locked():
            self.lib.wasmops_aot_set_slot(slot, None, 0)
            self._records.pop(slot, None)
            self._tables.pop(slot, None)
        self._free.append(slot)

    def add_variant(self, slot: int, record: np.ndarray) -> None:
        with self.locked():
            records = self._records.setdefault(slot, [])
            if any(np.array_equal(r, record) for r in records):
                return
            records.append(record)
            table = np.concatenate(records)
            self.lib.wasmops_aot_set_slot(slot, table.ctypes.data, len(records))
            self._tables[slot] = table  # the old table is released only after the shim switched over

    def bury(self, programs: list[Program]) -> None:
        """Programs of a collected op: freed under the lock, never from a finalizer directly."""
        self._graveyard.extend(programs)

    def last_error(self) -> str:
        return (self.lib.wasmops_aot_last_error() or b"").decode(errors="replace")


_SHIM: Shim | None = None
_SHIM_LOCK = threading.Lock()


def shim() -> Shim:
    """The process-wide shim, built and loaded on first use."""
    global _SHIM
    with _SHIM_LOCK:
        if _SHIM is None:
            _SHIM = Shim()
    return _SHIM

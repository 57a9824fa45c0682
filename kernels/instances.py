"""The thread pool of a wasm module: one shared memory, the calling instance and n - 1 worker instances.

Every module (the op library, a compiled graph) is built for a shared memory; TVM's parallel loops call
`TVMBackendParallelLaunch`, which `wasm_support.c` runs on the workers blocked in `wasmops_worker`. This
module owns the process-wide thread count (`set_num_threads`) and the wasmtime-py SharedMemory fix.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import ctypes
import functools
import importlib.util
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import wasmtime
from wasmtime import _ffi as ffi

from . import limits
from .manifest import LibraryError
from .module_cache import _load_module

# a worker store's epoch callback: (context, env, *deadline delta, *update kind) -> error pointer (0: go on)
_EPOCH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_size_t,
    ctypes.POINTER(ffi.wasmtime_context_t),
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
)
_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()


class _SharedMemory(wasmtime.SharedMemory):
    """wasmtime-py 50 wraps the pointer once too often when a SharedMemory is an import; this passes it as is."""

    def _as_extern(self) -> ffi.wasmtime_extern_t:
        union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
        return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_NUM_THREADS = int(os.environ.get("WASMOPS_NUM_THREADS") or _default_threads())
MAX_THREADS = 64
WORKER_STACK = 1 << 20  # each worker's shadow stack, as big as the main instance's
WORKER_TRAPPED = -3  # a kernel's status when a worker instance trapped in its share of a parallel loop


def set_num_threads(n: int) -> None:
    """Threads every kernel call may use from now on (the op library and compiled graphs).

    Heavy kernels split their outer parallel loops into fixed slices, so results do not depend on `n`.
    Each module adapts its pool at its next call."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads: n must be in [1, {MAX_THREADS}], got {n}")
    global _NUM_THREADS
    _NUM_THREADS = int(n)


def get_num_threads() -> int:
    """Threads kernel calls use: $WASMOPS_NUM_THREADS, else the cores this process may run on
    (inside `thread_limit(n)`: n, in that Python thread)."""
    return _LIMIT.get() or _NUM_THREADS


_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("wasmops_thread_limit", default=None)


@contextlib.contextmanager
def thread_limit(n: int | None) -> Iterator[None]:
    """Kernel calls made inside the block (from this Python thread) use n threads; None: the process setting.
    A session's `intra_op_num_threads` is this around each run."""
    if n is not None and not 1 <= n <= MAX_THREADS:
        raise ValueError(f"thread_limit: n must be in [1, {MAX_THREADS}], got {n}")
    token = _LIMIT.set(n)
    try:
        yield
    finally:
        _LIMIT.reset(token)


@functools.cache
def _load_tvm_ffi_first() -> None:
    """Load TVM's FFI library, if installed, before the first wasmtime Engine exists.

    libtvm_ffi.so installs a SIGSEGV backtrace handler when it loads and does not chain to the one it
    replaces. wasmtime turns out-of-bounds accesses into traps from its own SIGSEGV handler, so `import tvm`
    after an Engine exists would make every later wasm trap kill the process. Loaded first, TVM's handler
    is the one wasmtime chains to for faults outside wasm, and importing tvm later loads nothing new.
    """
    spec = importlib.util.find_spec("tvm_ffi")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        lib = Path(folder) / "lib" / "libtvm_ffi.so"
        if lib.is_file():
            ctypes.CDLL(str(lib), ctypes.RTLD_GLOBAL)
            return


class Instances:
    """A module's main instance and its worker pool: N-1 more instances over the same shared memory.

    Shared by the op library and compiled graphs. The main instance runs every call; inside a kernel,
    TVMBackendParallelLaunch (kernels/wasm_support.c) lets it and the workers take the tasks of a parallel
    loop from a shared counter, each worker a Python thread blocked in `wasmops_worker` in its own Store
    (a Store is not thread-safe; ctypes releases the GIL during the call).
    Memory is shared and never moves, so one numpy view serves all.
    """

    def __init__(
        self, data: bytes, isa: str, key: str, name: str, max_memory: int | None = None, time_limits: bool = False
    ):
        config = wasmtime.Config()
        self.time_limits = time_limits
        config.epoch_interruption = time_limits  # checks compiled into every loop (kernels/limits.py)
        config.wasm_simd = True
        relaxed = isa == "relaxed-simd"
        config.wasm_relaxed_simd = relaxed
        config.wasm_relaxed_simd_deterministic = relaxed  # same results on every host
        config.wasm_threads = True
        config.shared_memory = True
        config.memory_reservation = 1 << 32
        config.memory_may_move = False
        self.name = name
        _load_tvm_ffi_first()
        self.engine = wasmtime.Engine(config)
        self.module = _load_module(self.engine, data, key + ("-epoch" if time_limits else ""))
        imports = self.module.imports
        if len(imports) != 1 or not isinstance(imports[0].type, wasmtime.MemoryType) or not imports[0].type.is_shared:
            raise LibraryError(f"{name} was not built for a shared memory (rebuild it with this wasmops)")
        declared = imports[0].type.limits
        top = limits.max_pages(max_memory, declared.min, declared.max, name)
        self.min_memory, self.max_memory = declared.min * limits.PAGE, None if top is None else top * limits.PAGE
        self.memory = _SharedMemory(self.engine, wasmtime.MemoryType(wasmtime.Limits(declared.min, top), shared=True))
        self.cancelling = False  # set by the watchdog while a timed call of this pool is being interrupted
        self.store, self.instance = self._instance()
        self.exports = self.instance.exports(self.store)
        self.stack_pointer = self.exports["__stack_pointer"]
        self.stack_top = self.stack_pointer.value(self.store)
        self._mem_ptr = self.memory.ptr()
        self.threads = 1  # the main instance plus running workers
        self._threads: list[threading.Thread] = []
        self._stacks: list[int] = []
        self.worker_trap = ""  # the message of the last trap in a worker
        _LIVE.add(self)

    def _instance(self) -> tuple[wasmtime.Store, wasmtime.Instance]:
        store = wasmtime.Store(self.engine)
        if self.time_limits:
            store.set_epoch_deadline(limits.FAR)  # a new store's deadline is now: instantiation would trap
        try:
            return store, wasmtime.Instance(store, self.module, [self.memory])
        except (wasmtime.WasmtimeError, wasmtime.Trap) as exc:
            raise LibraryError(f"cannot instantiate {self.name}: {exc}") from None

    def view(self) -> np.ndarray:
        """A uint8 view of the whole shared memory (it only grows; the base never moves)."""
        size = ffi.wasmtime_sharedmemory_data_size(self._mem_ptr)
        return np.ctypeslib.as_array(ffi.wasmtime_sharedmemory_data(self._mem_ptr), (size,))

    def sync_threads(self) -> None:
        """Match the pool to get_num_threads(); the caller holds the owner's lock (the main Store is used).
        Callers check `self.threads != get_num_threads()` first: that comparison is all a call pays."""
        n = get_num_threads()
        if self.threads != n:
            self.resize(n)

    def resize(self, n: int) -> None:
        self.stop()
        if n <= 1:
            return
        ex, store = self.exports, self.store
        ex["wasmops_restart_workers"](store)
        for task in range(1, n):
            stack = ex["wasmops_alloc"](store, WORKER_STACK)
            if not stack:
                self.stop()
                raise MemoryError(f"{self.name}: no memory for a worker stack")
            self._stacks.append(stack)
            thread = threading.Thread(
                target=self._serve, args=(task, stack + WORKER_STACK), name=f"wasmops-{task}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 30
        while ex["wasmops_workers_ready"](store) < n - 1:  # workers count themselves in once inside wasm
            if time.monotonic() > deadline or not all(t.is_alive() for t in self._threads):
                self.stop()
                raise LibraryError(f"{self.name}: worker threads did not start")
            time.sleep(0.0005)
        ex["wasmops_set_threads"](store, n)
        self.threads = n

    def stop(self) -> None:
        """Send the workers home (they leave wasm and their threads end) and free their stacks."""
        if not self._threads:
            return
        self.exports["wasmops_stop_workers"](self.store)
        self.threads = 1
        for thread in self._threads:
            thread.join()
        for stack in self._stacks:
            self.exports["wasmops_free"](self.store, stack)
        self._threads, self._stacks = [], []

    def close(self) -> None:
        """Stop the workers and free the wasmtime objects now (at exit: before Python tears modules down)."""
        self.stop()
        for obj in (self.store, self.memory, self.module, self.engine):
            with contextlib.suppress(Exception):
                obj.close()

    def _serve(self, task: int, stack_top: int) -> None:
        """A worker thread's life: its own Store and instance, its own stack, then wasmops_worker until stop."""
        store, instance = self._instance()
        ex = instance.exports(store)
        worker, failed, sp = ex["wasmops_worker"], ex["wasmops_worker_failed"], ex["__stack_pointer"]

        def on_epoch(_ctx, _env, delta, kind) -> int:
            """The epoch moved (some timed call of this pool expired): trap if that call is being cancelled."""
            if self.cancelling:
                return ctypes.cast(
                    ffi.wasmtime_error_new(b"interrupted: the call's time limit passed"), ctypes.c_void_p
                ).value
            delta[0], kind[0] = 1, 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE, one epoch on
            return 0

        callback = _EPOCH_CALLBACK(on_epoch)  # kept alive by this frame for the worker's life
        if self.time_limits:
            ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), callback, None, _NO_FINALIZER)
        resume = 0
        while True:
            sp.set_value(store, wasmtime.Val.i32(stack_top))
            if self.time_limits:
                store.set_epoch_deadline(1)
            try:
                worker(store, task, resume)
                return
            except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:  # in a task: that launch fails; idle: nothing
                self.worker_trap = str(exc).splitlines()[0]
                if self.time_limits:
                    store.set_epoch_deadline(limits.FAR)  # the recovery call below must not be interrupted
                failed(store, task)
                resume = 1

    def recover(self) -> None:
        """After a trap in the main instance: wait for the workers' tasks of the abandoned launch, reset."""
        self.clear_deadline()  # an interrupted call's deadline has passed
        self.exports["wasmops_recover"](self.store)
        self.stack_pointer.set_value(self.store, wasmtime.Val.i32(self.stack_top))

    def clear_deadline(self) -> None:
        if self.time_limits:
            self.store.set_epoch_deadline(limits.FAR)

    def start_timed(self, seconds: float, what: str) -> int:
        """Give the main instance's next call `seconds`: a token for `end_timed`."""
        if not self.time_limits:
            raise limits.TimeLimitUnavailable(what)
        self.store.set_epoch_deadline(1)
        return limits.WATCHDOG.arm(self, seconds)

    def end_timed(self, token: int) -> bool:
        """The timed call returned or failed (and was recovered): True if its time limit had passed."""
        fired = limits.WATCHDOG.disarm(token)
        self.store.set_epoch_deadline(limits.FAR)
        return fired


#: every live pool, closed at exit: wasmtime-py's finalizers call into ctypes functions that module teardown
#: may already have set to None (four "Exception ignored in Managed.__del__" lines per module otherwise,
#: seen when MindSpore is imported and keeps the objects alive until then)
_LIVE: weakref.WeakSet[Instances] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for inst in list(_LIVE):
        inst.close()


def c_string(mem: np.ndarray, ptr: int) -> str:
    """The NUL-terminated string at `ptr` in a view of linear memory (the kernels' error messages)."""
    end = ptr
    while end < len(mem) and mem[end]:
        end += 1
    return bytes(mem[ptr:end]).decode(errors="replace")

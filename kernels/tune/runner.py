"""MetaSchedule runner for wasm: a candidate module under the project's wasmtime runtime, timed robustly.

The module is loaded by `kernels.runtime.Runtime` (shared imported memory, worker pool, traps become
exceptions), its arguments allocated in linear memory and filled with seeded random data. Timing on a noisy
2-core machine: a warm-up call, a calibrated number of calls per repeat (at least `min_repeat_ms`), several
repeats, outliers above median + 3 MAD dropped, and the minimum of the rest reported (min-of-k: noise only
ever adds time). A candidate that traps or fails is an error RunnerResult, never an exception.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerFuture, RunnerInput, RunnerResult

from ..instances import thread_limit
from ..runtime import Runtime
from .builder import KERNEL


@dataclass(frozen=True)
class Timing:
    """Seconds per call: `best` (min of the kept repeats, what comparisons use), `median`, `kept` / `repeats`."""

    best: float
    median: float
    kept: int
    repeats: int


@contextlib.contextmanager
def _private_cache() -> Iterator[None]:
    """Compile candidates without filling the user's compiled-module cache (each is timed once, then dropped)."""
    old = os.environ.get("WASMOPS_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="wasmops-tune-cache-") as tmp:
        os.environ["WASMOPS_CACHE_DIR"] = tmp
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("WASMOPS_CACHE_DIR", None)
            else:
                os.environ["WASMOPS_CACHE_DIR"] = old


def _fill(shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    """Floats uniform in [-1, 1); integers and booleans zero (always a valid index)."""
    if dtype.kind == "f":
        return rng.uniform(-1, 1, shape).astype(dtype)
    return np.zeros(shape, dtype)


class LoadedKernel:
    """A one-kernel module loaded with its arguments in linear memory; `call()` runs it once."""

    def __init__(
        self,
        path: str | Path,
        args: list[tuple[tuple[int, ...], np.dtype]],
        seed: int = 0,
        data: list[np.ndarray] | None = None,
    ):
        """`data`: the arguments' values (else seeded random ones)."""
        with _private_cache():
            self.runtime = rt = Runtime(path, time_limits=False)
        rng = np.random.default_rng(seed)
        self.tensors = []
        mem = rt.memory()
        for i, (shape, dtype) in enumerate(args):
            nbytes = max(1, math.prod(shape) * dtype.itemsize)
            ptr = rt.alloc(nbytes)
            mem = rt.memory()
            value = _fill(shape, dtype, rng) if data is None else np.ascontiguousarray(data[i], dtype)
            mem[ptr : ptr + value.nbytes] = value.reshape(-1).view(np.uint8)
            self.tensors.append((ptr, shape, dtype))

    def call(self) -> None:
        self.runtime.call(KERNEL, self.tensors)

    def buffers(self) -> list[np.ndarray]:
        """Copies of every argument buffer (inputs unchanged, outputs as computed)."""
        mem = self.runtime.memory()
        return [np.frombuffer(mem, d, math.prod(s), p).reshape(s).copy() for p, s, d in self.tensors]

    def close(self) -> None:
        self.runtime.instances.stop()


#: bytes written between the calls of a cold measurement: more than this machine's last-level cache
FLUSH_BYTES = 64 << 20
_flush_buffer: np.ndarray | None = None


def flush_caches() -> None:
    """Evict the CPU caches (write a buffer larger than the last-level cache): the next call reads its weights
    from memory, as a layer of a whole model does (ResNet-50's packed weights are ~500 MB)."""
    global _flush_buffer
    if _flush_buffer is None:
        _flush_buffer = np.zeros(FLUSH_BYTES // 4, np.float32)
    _flush_buffer += 1.0


def measure(
    call: Callable[[], None],
    *,
    repeats: int = 7,
    min_repeat_ms: float = 2.0,
    max_ms: float = 2000.0,
    cold: bool = False,
) -> Timing:
    """Time `call` (see the module docstring); a call slower than `max_ms` is timed once, not repeated.
    `cold`: evict the caches before each timed call (one call per repeat): a kernel timed hot, its weights
    left in cache by the previous call, can win here and lose inside its model."""
    call()  # warm-up: compiles lazily-touched pages, starts the worker pool
    start = time.perf_counter()
    call()
    once = time.perf_counter() - start
    if once * 1e3 > max_ms:
        return Timing(once, once, 1, 1)
    number = 1 if cold else max(1, math.ceil(min_repeat_ms / 1e3 / max(once, 1e-7)))
    times = []
    for _ in range(repeats):
        if cold:
            flush_caches()
        start = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - start) / number)
    med = statistics.median(times)
    mad = statistics.median(abs(t - med) for t in times)
    kept = [t for t in times if t <= med + 3 * max(mad, 0.01 * med)]
    return Timing(min(kept), statistics.median(kept), len(kept), len(times))


def alternate(timers: dict[object, Callable[[], float]], rounds: int = 3) -> dict[object, float]:
    """The fastest of `rounds` timings per key, the timers called in turn each round: the machine's noise hits
    them all alike (a single timing per candidate favours the lucky)."""
    times: dict[object, list[float]] = {key: [] for key in timers}
    for _ in range(rounds):
        for key, timer in timers.items():
            times[key].append(timer())
    return {key: min(t) for key, t in times.items()}


def keep_best(res, times: dict, hand, base, load: Callable, timer: Callable, margin: float, what: str):
    """Settle a search: the three fastest of `times` (key -> seconds, inf = refused) are timed against `hand`
    alternately (`load(key)` loads one, `timer(loaded)` times it; `base` is the loaded hand one), and the best
    is kept only if faster than hand by `margin`. Sets res.best / hand_ms / tuned_ms / kept / note."""
    finalists = [k for k in sorted(times, key=times.get)[:3] if k != hand and times[k] < float("inf")]
    res.best, res.hand_ms, res.tuned_ms = hand, times[hand] * 1e3, times[hand] * 1e3
    if not finalists:
        res.note = res.note or f"hand {what} fastest"
        return res
    loaded = {k: load(k) for k in finalists}  # their modules were built while searching
    try:
        best = alternate({k: (lambda c=c: timer(c)) for k, c in {hand: base, **loaded}.items()})
    finally:
        for cand in loaded.values():
            cand.close()
    res.best = min(finalists, key=best.get)
    res.hand_ms, res.tuned_ms = best[hand] * 1e3, best[res.best] * 1e3
    res.kept = res.tuned_ms < res.hand_ms * (1 - margin)
    if not res.kept:
        res.note = res.note or f"hand {what} kept (tuned not faster)"
    return res


def time_module(path: str | Path, args: list[tuple[tuple[int, ...], np.dtype]], threads: int = 1, **kwargs) -> Timing:
    """Load the one-kernel module at `path`, fill `args`, time it on `threads` threads."""
    kernel = LoadedKernel(path, args)
    try:
        with thread_limit(threads):
            return measure(kernel.call, **kwargs)
    finally:
        kernel.close()


def _args(runner_input: RunnerInput) -> list[tuple[tuple[int, ...], np.dtype]]:
    return [(tuple(int(d) for d in a.shape), np.dtype(str(a.dtype))) for a in runner_input.args_info]


def _done(result: RunnerResult) -> RunnerFuture:
    return RunnerFuture(f_done=lambda: True, f_result=lambda: result)


@derived_object
class WasmRunner(PyRunner):
    """Times each built candidate in-process (one at a time: timings must not overlap) and deletes it.

    `on_result(seconds or None)` is called after each candidate (a progress bar, a budget check)."""

    def __init__(
        self, threads: int = 1, repeats: int = 7, min_repeat_ms: float = 2.0, on_result: Callable | None = None
    ) -> None:
        super().__init__()
        self.threads = threads
        self.repeats = repeats
        self.min_repeat_ms = min_repeat_ms
        self.on_result = on_result

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        futures = []
        for item in runner_inputs:
            try:
                timing = time_module(
                    item.artifact_path,
                    _args(item),
                    self.threads,
                    repeats=self.repeats,
                    min_repeat_ms=self.min_repeat_ms,
                )
                result = RunnerResult([timing.best], None)
            except Exception as exc:  # noqa: BLE001 - a trap, a refused argument, a wasmtime error
                timing = None
                result = RunnerResult(None, f"run failed: {str(exc).strip()[-2000:]}")
            finally:
                Path(item.artifact_path).unlink(missing_ok=True)
            if self.on_result is not None:
                self.on_result(None if timing is None else timing.best)
            futures.append(_done(result))
        return futures

"""Time and memory limits for calls into wasm (wasmtime + threading only; knows nothing about frameworks).

Time: a module built with wasmtime's epoch interruption (`time_limits=True`, or by default once a time
limit is set: `set_timeout`, `$WASMOPS_TIMEOUT`, `$WASMOPS_TIME_LIMITS=1`) can be interrupted. A timed
call sets its store's deadline one epoch ahead and arms the watchdog thread; when the time passes, the
watchdog marks the module's pool as cancelling and bumps the engine's epoch. The calling instance traps
at its next loop back-edge or function entry; worker instances (their stores call back on every epoch
change) trap too if they are in a task of that call. The caller turns this into `TimeoutError` naming
the call. Untimed calls keep a deadline that never comes. The checks compiled into every loop cost
kernel speed (benchmarks/epoch_overhead.py: tens of percent on tiled matmul / conv loops), so modules
built without a time limit in view have none, and a time limit asked of one is refused with the way to
get it.

Memory: a module's shared memory is created with a maximum (`set_memory_limit`, `$WASMOPS_MAX_MEMORY_MB`,
or per runtime / session), so `memory.grow` fails past it and the allocation raises `MemoryError`
instead of growing the process.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import Iterator

import numpy as np

FAR = 1 << 62  # epochs ahead: an untimed call's deadline (the epoch moves only when a timed call expires)
PAGE = 1 << 16


def _seconds(value, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{what}: expected seconds (a number) or None, got {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{what}: a time limit must be a positive finite number of seconds, got {value}")
    return float(value)


def _env_timeout() -> float | None:
    setting = os.environ.get("WASMOPS_TIMEOUT")
    return _seconds(float(setting), "$WASMOPS_TIMEOUT") if setting else None


_TIMEOUT = _env_timeout()
_TIME_LIMITS = os.environ.get("WASMOPS_TIME_LIMITS", "") not in ("", "0")
_LOCAL = threading.local()


def time_limits_default() -> bool:
    """Whether a module created now gets epoch checks when not told: a time limit is set, or asked for."""
    return _TIME_LIMITS or _TIMEOUT is not None


class TimeLimitUnavailable(ValueError):
    """A time limit was asked of a module built without epoch checks."""

    def __init__(self, what: str):
        super().__init__(
            f"{what}: a time limit needs a module built with epoch interruption: create it with "
            "time_limits=True (or call wasmops.set_timeout / set $WASMOPS_TIME_LIMITS=1 before); "
            "its checks slow kernels down, so it is not the default"
        )


def set_timeout(seconds: float | None) -> None:
    """The default time limit of every call into wasm from now on: an op-library call, an op-by-op session
    run, a compiled-graph run. None (the default, or $WASMOPS_TIMEOUT) means no limit."""
    global _TIMEOUT
    _TIMEOUT = _seconds(seconds, "set_timeout")


def get_timeout() -> float | None:
    """The time limit this thread's calls get: a `time_limit` block's, else `set_timeout`'s."""
    return getattr(_LOCAL, "timeout", _TIMEOUT)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """``with wasmops.time_limit(0.5): y = wasmops.matmul(a, b)``: each call into wasm in this thread's
    block gets `seconds` (None: no limit), overriding `set_timeout`."""
    seconds = _seconds(seconds, "time_limit")
    before = getattr(_LOCAL, "timeout", _TIMEOUT)
    _LOCAL.timeout = seconds
    try:
        yield
    finally:
        _LOCAL.timeout = before


def run_timeout(run_options) -> float | None:
    """The time limit of a session run: ``run_options={"timeout": seconds}`` (or an object with a `timeout`
    attribute), else the thread's default."""
    if run_options is None:
        return get_timeout()
    if isinstance(run_options, dict):
        unknown = sorted(set(run_options) - {"timeout"})
        if unknown:
            raise ValueError(f"run_options: unknown option(s) {unknown}; supported: ['timeout']")
        return _seconds(run_options.get("timeout"), "run_options['timeout']")
    return _seconds(getattr(run_options, "timeout", None), "run_options.timeout")


# ---- memory ---------------------------------------------------------------------------------------------
def _env_memory() -> int | None:
    setting = os.environ.get("WASMOPS_MAX_MEMORY_MB")
    if not setting:
        return None
    if not setting.isdigit() or int(setting) == 0:
        raise ValueError(f"$WASMOPS_MAX_MEMORY_MB must be a positive whole number of MiB, got {setting!r}")
    return int(setting) << 20


_MAX_MEMORY = _env_memory()


def _check_bytes(nbytes, what: str) -> int | None:
    if nbytes is None:
        return None
    if isinstance(nbytes, bool) or not isinstance(nbytes, int | np.integer) or nbytes <= 0:
        raise ValueError(f"{what}: expected a positive number of bytes or None, got {nbytes!r}")
    return int(nbytes)


def set_memory_limit(nbytes: int | None) -> None:
    """The most linear memory each runtime or compiled-graph session created from now on may use (None: the
    whole 4 GiB of wasm32). Past it, allocations raise MemoryError. Default: $WASMOPS_MAX_MEMORY_MB."""
    global _MAX_MEMORY
    _MAX_MEMORY = _check_bytes(nbytes, "set_memory_limit")


def get_memory_limit() -> int | None:
    return _MAX_MEMORY


def max_pages(limit: int | None, declared_min: int, declared_max: int | None, name: str) -> int | None:
    """The page maximum of a module's shared memory under `limit` bytes (default: the process setting)."""
    limit = _check_bytes(limit, "max_memory") if limit is not None else _MAX_MEMORY
    if limit is None:
        return declared_max
    pages = limit // PAGE
    if pages < declared_min:
        raise MemoryError(f"{name} needs {declared_min * PAGE} bytes of linear memory to start; the limit is {limit}")
    return pages if declared_max is None else min(pages, declared_max)


# ---- the watchdog -------------------------------------------------------------------------------------------
class _Watchdog:
    """One daemon thread for the process: a heap of (when, token, pool); expiring bumps the pool's epoch."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, object]] = []
        self._live: dict[int, object] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None

    def arm(self, pool, seconds: float) -> int:
        token = next(self._tokens)
        with self._cond:
            self._live[token] = pool
            heapq.heappush(self._heap, (time.monotonic() + seconds, token, pool))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="wasmops-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return token

    def disarm(self, token: int) -> bool:
        """Forget a timed call; True if its time had passed (its pool stops cancelling now)."""
        with self._cond:
            pool = self._live.pop(token, None)
            fired = token in self._fired
            if fired:
                self._fired.discard(token)
                pool.cancelling = False
            return fired

    def _serve(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._cond.wait()
                    continue
                when, token, pool = self._heap[0]
                now = time.monotonic()
                if now < when:
                    self._cond.wait(when - now)
                    continue
                heapq.heappop(self._heap)
                self._fired.add(token)
                pool.cancelling = True  # before the epoch moves: workers in this call's tasks then trap
                pool.engine.increment_epoch()


WATCHDOG = _Watchdog()

"""The fast path of the numpy API: one call signature bound to arena addresses (see Runtime.bind).

Also the raw ctypes entry point both paths call wasm through. Knows nothing about frameworks.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

import numpy as np
from wasmtime import _bindings
from wasmtime import _ffi as ffi

from .instances import get_num_threads
from .limits import get_timeout

if TYPE_CHECKING:
    from .runtime import Runtime

# the raw ctypes entry points under wasmtime-py's Python wrappers: one Python frame less per call
# wasmtime_func_call_unchecked without ctypes argtypes: the hot paths pass ready-made ctypes objects, which
# skips per-argument conversion (~0.6 us a call instead of ~1.5); it returns the error's address or None
_call_unchecked = ctypes.CFUNCTYPE(ctypes.c_void_p)(
    ctypes.cast(_bindings._wasmtime_func_call_unchecked, ctypes.c_void_p).value
)
_THREE, _TWO = ctypes.c_size_t(3), ctypes.c_size_t(2)


def _same_bytes(arg: np.ndarray, x: np.ndarray) -> bool:
    """`x` is `arg` or a contiguous reshape of it (same buffer, same bytes): copying arg is copying x."""
    if arg is x:
        return True
    return (
        x.dtype == arg.dtype
        and x.nbytes == arg.nbytes
        and x.flags.c_contiguous
        and arg.flags.c_contiguous
        and x.__array_interface__["data"][0] == arg.__array_interface__["data"][0]
    )


class Bound:
    """A call signature bound to arena addresses (Runtime.bind): the per-call path is one slice assignment per input,
    the argument records rewritten only if another call used the block since, one unchecked call into
    wasm, and a copy of the output. Stale (returns None) once the arena has moved; the caller rebinds."""

    __slots__ = ("copies", "ctx", "epoch", "func", "instances", "lock", "out", "rt", "steps", "trap")

    def __init__(self, rt: Runtime, copies: tuple, steps: list, out: np.ndarray):
        self.rt, self.copies, self.out, self.epoch = rt, copies, out, rt._arena_epoch
        self.instances, self.lock = rt.instances, rt.lock
        self.ctx, self.func, self.trap = rt._ctx_arg, rt._func_ref, rt._trap_ref  # a trap bumps the epoch
        self.steps = []
        for kernel, prepared in steps:  # each step its own argument array: only the result slot changes
            raw = (ffi.wasmtime_val_raw * 3)()
            raw[0].i32, raw[1].i32, raw[2].i32 = prepared[0], rt._meta, prepared[2]
            self.steps.append((kernel, prepared, prepared[0], raw))

    def __call__(self, args: tuple) -> np.ndarray | None:
        """The output, or None when this binding is stale or the pool must change size (the caller then
        takes the full path, which adapts both)."""
        rt = self.rt
        if rt._arena_epoch != self.epoch or self.instances.threads != get_num_threads() or get_timeout():
            return None  # a timed call takes the full path
        for view, j in self.copies:
            view[...] = args[j]
        for kernel, prepared, index, raw in self.steps:
            if prepared is not rt._last_prepared:
                blob = prepared[1]
                rt._view[rt._meta : rt._meta + len(blob)] = blob
                rt._last_prepared = prepared
            raw[0].i32 = index
            error = _call_unchecked(self.ctx, self.func, raw, _THREE, self.trap)
            if error or rt._trap or raw[0].i32:
                rt._raw[0].i32 = raw[0].i32  # where _failed reads the status
                rt._failed(kernel, error)
        return self.out.copy()

"""`from wasmops import conv2d`: numpy arrays in, numpy arrays out, every op of the library.

Each public function is made from its op: it takes the op's `plan` signature and docstring, validates
before entering wasm (numpy-style TypeError / ValueError naming the op), then runs on the default runtime.
A call with array arguments only is remembered by their shapes, strides and dtypes: a repeat skips the
plan (it passed validation already) and takes the runtime's bound fast path (Runtime.bind), a few
microseconds for a tiny op.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np

from ..kernels.limits import get_timeout
from ..kernels.runtime import Bound, default_runtime
from ..registry.numpy_names import NUMPY_NAMES, numpy_op

_UNKNOWN = object()


def make_function(public_name: str) -> Callable[..., np.ndarray]:
    op = numpy_op(public_name)

    plan = op.plan
    # a multi-output op's chain returns a list (kept outputs, then the last), or the op stacks its results
    # in one output: `results` makes the public tuple
    results = getattr(op, "results", None)
    bound: dict[tuple, Bound | None] = {}  # signature -> fast path (None: this signature has none)

    @functools.wraps(plan)
    def run(*args, **kwargs) -> np.ndarray:
        key = None
        if not kwargs:
            try:
                if len(args) == 1:
                    a = args[0]
                    key = (a.shape, a.strides, a.dtype)
                else:
                    key = tuple([(a.shape, a.strides, a.dtype) for a in args])
            except AttributeError:  # not all arrays: no fast path
                pass
            fast = bound.get(key, _UNKNOWN)
            if fast is None:  # a signature the fast path cannot take
                key = None
            elif fast is not _UNKNOWN:
                with fast.lock:
                    out = fast(args)
                if out is not None:
                    return out if results is None else results([out])
        calls = plan(*args, **kwargs)  # validation first: bad input never loads or enters wasm
        if get_timeout() is not None:  # a runtime that takes time limits; not bound (the fast path is untimed)
            rt = default_runtime(timed=True)
            with rt.lock:
                out = rt.run(calls)
            return _finish(out, results)
        rt = default_runtime()
        with rt.lock:
            if key is None or not all(type(a) is np.ndarray for a in args):
                return _finish(rt.run(calls), results)
            if len(bound) >= 64:  # a bounded memo of recent signatures
                bound.clear()
            fast = bound[key] = rt.bind(calls, args)
            out = None if fast is None else fast(args)
            if out is None:
                out = rt.run(calls)
            return _finish(out, results)

    run.__name__ = run.__qualname__ = public_name
    run.__module__ = "wasmops"
    run.__doc__ = inspect.getdoc(op.plan) or op.__doc__
    run.__signature__ = inspect.signature(op.plan).replace(return_annotation="np.ndarray")  # type: ignore[attr-defined]
    return run


def _finish(out, results):
    if results is None:
        return out
    return results(out if type(out) is list else [out])


FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {name: make_function(name) for name in sorted(NUMPY_NAMES)}

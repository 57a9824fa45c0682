"""`import wasmops.numpy as wnp`: the supported subset of numpy, computed by the wasm kernels.

Functions have numpy's names and signatures (`wnp.clip(a, -0.5, 0.5)`, `wnp.sum(x, axis=1, keepdims=True,
dtype=np.float32)`, `wnp.maximum(a, b, out=c)`, `wnp.reshape(x, shape, order="C")`, `wnp.dot`, `wnp.einsum`,
...). The kernels compute in float32 / int32: a float64 or int64 array raises a TypeError saying how to
cast it, unless the call runs inside `allow_casting()`, which casts (int64 values checked to fit) and
records each cast. A function, argument or dtype the library does not support raises a clear error, unless
the call runs inside `allow_numpy_fallback()`, which runs it with numpy and records it. Neither is silent:
both return a log, and both log to the "wasmops.numpy" logger.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as _np

from .bindings.numpy_api import FUNCTIONS
from .bindings.numpy_compat import UnsupportedArgument, numpy_signatures
from .bindings.numpy_extras import EXTRAS
from .ops.spec import DtypeError
from .registry.numpy_names import NUMPY_NAMES

_log = logging.getLogger("wasmops.numpy")


@dataclass
class FallbackLog:
    """The calls that ran on numpy instead of wasm (or the casts made for them), with the reason, in order."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(f"{name}: {why}" for name, why in self.calls) or "none"


_active: list[FallbackLog] = []
_casting: list[FallbackLog] = []


@contextlib.contextmanager
def allow_numpy_fallback() -> Iterator[FallbackLog]:
    """Inside this block, unsupported functions, arguments and dtypes run on numpy and are logged."""
    log = FallbackLog()
    _active.append(log)
    try:
        yield log
    finally:
        _active.remove(log)


@contextlib.contextmanager
def allow_casting() -> Iterator[FallbackLog]:
    """Inside this block, float64 / float16 arrays are cast to float32 and int64 (and other integer) arrays to
    int32 when an op refuses their dtype; an integer that does not fit raises OverflowError. Each cast is
    logged; results are float32 / int32."""
    log = FallbackLog()
    _casting.append(log)
    try:
        yield log
    finally:
        _casting.remove(log)


def _narrow(value, name: str, what: str, casts: list[str]):
    if isinstance(value, list | tuple) and any(isinstance(v, _np.ndarray) for v in value):
        return type(value)(_narrow(v, name, f"{what}[{i}]", casts) for i, v in enumerate(value))
    if not isinstance(value, _np.ndarray | _np.generic):
        return value
    arr = _np.asarray(value)
    if arr.dtype.kind == "f" and arr.dtype != _np.float32:
        target = _np.float32
    elif arr.dtype.kind in "iu" and arr.dtype != _np.int32:
        target = _np.int32
        info = _np.iinfo(_np.int32)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise OverflowError(f"wasmops.numpy.{name}: {what} ({arr.dtype}) has values outside int32; not cast")
    else:
        return value
    casts.append(f"{what} {arr.dtype} -> {_np.dtype(target)}")
    return arr.astype(target)


def _fallback(name: str, why: str, args, kwargs):
    _active[-1].calls.append((name, why))
    _log.info("numpy fallback: %s (%s)", name, why)
    return getattr(_np, name)(*args, **kwargs)


def _wrap(name: str, fn: Callable) -> Callable:
    signature = inspect.signature(fn)
    has_numpy = hasattr(_np, name)

    def call(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            if _active and has_numpy:
                return _fallback(name, f"unsupported arguments ({exc})", args, kwargs)
            raise TypeError(f"wasmops.numpy.{name}{signature} does not take these arguments: {exc}") from None
        try:
            return fn(*args, **kwargs)
        except DtypeError as exc:
            if _casting:
                casts: list[str] = []
                cast_args = [_narrow(a, name, f"argument {i}", casts) for i, a in enumerate(args)]
                cast_kwargs = {k: _narrow(v, name, k, casts) for k, v in kwargs.items()}
                if casts:
                    _casting[-1].calls.append((name, ", ".join(casts)))
                    _log.info("cast for %s: %s", name, ", ".join(casts))
                    return call(*cast_args, **cast_kwargs)
            if _active and has_numpy:
                return _fallback(name, f"unsupported dtype ({exc})", args, kwargs)
            raise
        except UnsupportedArgument as exc:
            if _active and has_numpy:
                return _fallback(name, f"unsupported argument ({exc})", args, kwargs)
            raise

    call.__name__ = call.__qualname__ = name
    call.__doc__ = fn.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


_SOURCES = {name: FUNCTIONS[name] for name in NUMPY_NAMES}
_SOURCES.update(numpy_signatures())
_SOURCES.update(EXTRAS)
_FUNCTIONS = {name: _wrap(name, fn) for name, fn in _SOURCES.items()}
globals().update(_FUNCTIONS)


def __getattr__(name: str):
    if _active and hasattr(_np, name) and callable(getattr(_np, name)):

        def fallback(*args, **kwargs):
            return _fallback(name, "not in the op library", args, kwargs)

        return fallback
    raise AttributeError(
        f"wasmops.numpy has no {name!r} (supported: {', '.join(sorted(_FUNCTIONS))}); "
        "wrap the call in wasmops.numpy.allow_numpy_fallback() to run it on numpy"
    )


__all__ = ["FallbackLog", "allow_casting", "allow_numpy_fallback", *sorted(_FUNCTIONS)]  # noqa: PLE0604

"""`import wasmops.numpy as wnp`: the supported subset of numpy, computed by the wasm kernels.

Functions follow numpy's names, signatures and broadcasting (`wnp.matmul`, `wnp.maximum`,
`wnp.sum(x, axis=1, keepdims=True)`, `wnp.transpose`, `wnp.concatenate`, ...). A numpy function or
argument the library does not support raises a clear error, unless calls run inside
`allow_numpy_fallback()`, which runs them with numpy and records each one, so fallbacks are never silent.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as _np

from .bindings.numpy_api import FUNCTIONS
from .registry.numpy_names import NUMPY_NAMES


@dataclass
class FallbackLog:
    """The calls that ran on numpy instead of wasm, with the reason, in call order."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(f"{name}: {why}" for name, why in self.calls) or "no numpy fallbacks"


_active: list[FallbackLog] = []


@contextlib.contextmanager
def allow_numpy_fallback() -> Iterator[FallbackLog]:
    """Inside this block, unsupported functions / arguments run on numpy and are logged."""
    log = FallbackLog()
    _active.append(log)
    try:
        yield log
    finally:
        _active.remove(log)


def _wrap(name: str, fn: Callable) -> Callable:
    signature = inspect.signature(fn)

    def call(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            if _active and hasattr(_np, name):
                _active[-1].calls.append((name, f"unsupported arguments ({exc})"))
                return getattr(_np, name)(*args, **kwargs)
            raise TypeError(f"wasmops.numpy.{name}{signature} does not take these arguments: {exc}") from None
        return fn(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = fn.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


_FUNCTIONS = {name: _wrap(name, FUNCTIONS[name]) for name in NUMPY_NAMES}
globals().update(_FUNCTIONS)


def __getattr__(name: str):
    if _active and hasattr(_np, name) and callable(getattr(_np, name)):
        numpy_fn = getattr(_np, name)

        def fallback(*args, **kwargs):
            _active[-1].calls.append((name, "not in the op library"))
            return numpy_fn(*args, **kwargs)

        return fallback
    raise AttributeError(
        f"wasmops.numpy has no {name!r} (supported: {', '.join(sorted(_FUNCTIONS))}); "
        "wrap the call in wasmops.numpy.allow_numpy_fallback() to run it on numpy"
    )


__all__ = ["FallbackLog", "allow_numpy_fallback", *sorted(_FUNCTIONS)]  # noqa: PLE0604

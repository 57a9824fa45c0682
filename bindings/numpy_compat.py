"""numpy's own signatures over the op library, for `wasmops.numpy`: code written for numpy calls it unchanged.

Ufuncs take `out=`, `dtype=` and numpy's other keywords; reductions take `dtype=`, `out=`, `initial=`,
`where=`; `clip(a, a_min, a_max)`, `reshape(a, shape, order=)`, `take(a, i)` (flattened, as numpy) and the
rest follow numpy. An argument value the kernels cannot honour (a float64 accumulator, `where=` masks,
`order='F'`) raises UnsupportedArgument naming it, which `allow_numpy_fallback()` turns into a logged numpy
call. Nothing here computes: results come from the op library's functions (bindings/numpy_api.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from .numpy_api import FUNCTIONS


class UnsupportedArgument(TypeError):
    """A numpy argument value wasmops does not compute (the message names it)."""


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NOVALUE = _NoValue()


def unsupported(name: str, what: str) -> UnsupportedArgument:
    return UnsupportedArgument(
        f"wasmops.numpy.{name}: {what} is not supported by the wasm kernels; "
        "run it with numpy, or inside wasmops.numpy.allow_numpy_fallback()"
    )


def finish(name: str, result: np.ndarray, out=None, dtype=None) -> np.ndarray:
    """numpy's `dtype=` (only the dtype the kernel computes in) and `out=` (the result copied into it)."""
    if dtype is not None and np.dtype(dtype) != result.dtype:
        raise unsupported(name, f"dtype={np.dtype(dtype)} (the kernels compute it in {result.dtype})")
    if out is None:
        return result
    if isinstance(out, tuple):
        if len(out) != 1:
            raise ValueError(f"wasmops.numpy.{name}: out must be one array, got {len(out)}")
        (out,) = out
    if not isinstance(out, np.ndarray):
        raise TypeError(f"wasmops.numpy.{name}: out must be a numpy array, got {type(out).__name__}")
    if out.shape != result.shape:
        raise ValueError(f"wasmops.numpy.{name}: out has shape {out.shape}, the result {result.shape}")
    np.copyto(out, result, casting="same_kind")
    return out


def _ufunc(name: str, fn: Callable, nin: int) -> Callable:
    def call(*args, out=None, where=True, casting="same_kind", order="K", dtype=None, subok=True, signature=None):
        if len(args) == nin + 1 and out is None:  # numpy takes out positionally too
            *args, out = args
        if len(args) != nin:
            raise TypeError(f"wasmops.numpy.{name} takes {nin} positional argument(s) ({len(args)} given)")
        if where is not True:
            raise unsupported(name, "where= (a mask)")
        if casting != "same_kind" or signature is not None or subok is not True or order not in "KCA":
            raise unsupported(name, f"casting={casting!r}, order={order!r}, subok={subok!r}, signature={signature!r}")
        return finish(name, fn(*args), out, dtype)

    inputs = [inspect.Parameter(f"x{i + 1}" if nin > 1 else "x", inspect.Parameter.POSITIONAL_ONLY) for i in range(nin)]
    keywords = [
        inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=d)
        for p, d in (("where", True), ("casting", "same_kind"), ("order", "K"), ("dtype", None), ("subok", True))
    ]
    out = inspect.Parameter("out", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
    call.__signature__ = inspect.Signature([*inputs, out, *keywords])  # type: ignore[attr-defined]
    return call


def _reduction(name: str, fn: Callable, with_dtype: bool) -> Callable:
    def check(initial, where) -> None:
        if initial is not NOVALUE:
            raise unsupported(name, "initial=")
        if where is not True and where is not NOVALUE:
            raise unsupported(name, "where= (a mask)")

    if with_dtype:

        def reduce(a, axis=None, dtype=None, out=None, keepdims=False, initial=NOVALUE, where=True):
            check(initial, where)
            return finish(name, fn(a, axis=axis, keepdims=bool(keepdims)), out, dtype)

    else:

        def reduce(a, axis=None, out=None, keepdims=False, initial=NOVALUE, where=True):
            check(initial, where)
            return finish(name, fn(a, axis=axis, keepdims=bool(keepdims)), out)

    return reduce


def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    if where is not True:
        raise unsupported("mean", "where= (a mask)")
    return finish("mean", FUNCTIONS["mean"](a, axis=axis, keepdims=bool(keepdims)), out, dtype)


def _arg(name: str) -> Callable:
    def arg(a, axis=None, out=None, *, keepdims=False, select_last_index=False):
        # int32 indices, like every integer result of the kernels; select_last_index is ONNX's extra
        result = FUNCTIONS[name](a, axis=axis, keepdims=bool(keepdims), select_last_index=select_last_index)
        return finish(name, result, out)

    return arg


def _cumulative(name: str) -> Callable:
    def cumulative(a, axis=None, dtype=None, out=None, *, exclusive=False, reverse=False):
        return finish(name, FUNCTIONS[name](a, axis=axis, exclusive=exclusive, reverse=reverse), out, dtype)

    return cumulative


def clip(a, a_min=NOVALUE, a_max=NOVALUE, out=None, *, min=NOVALUE, max=NOVALUE, **kwargs):  # noqa: A002
    """numpy.clip: bounds positionally (a_min, a_max) or as min= / max=; None leaves that side open."""
    if a_min is not NOVALUE and min is not NOVALUE or a_max is not NOVALUE and max is not NOVALUE:
        raise ValueError("wasmops.numpy.clip: pass a_min or min (a_max or max), not both")
    lo = min if a_min is NOVALUE else a_min
    hi = max if a_max is NOVALUE else a_max
    lo = None if lo is NOVALUE else lo
    hi = None if hi is NOVALUE else hi
    if np.ndim(lo) or np.ndim(hi):
        raise unsupported("clip", "array bounds (only scalar bounds)")
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise unsupported("clip", f"{sorted(kwargs)}")
    result = FUNCTIONS["clip"](a, min=-np.inf if lo is None else float(lo), max=np.inf if hi is None else float(hi))
    return finish("clip", result, out, dtype)


def reshape(a, /, shape=None, order="C", *, newshape=None, copy=None):
    if shape is None:
        shape = newshape
    if shape is None:
        raise TypeError("wasmops.numpy.reshape: missing the shape")
    arr = np.asarray(a)
    if order == "F" or (order == "A" and not arr.flags.c_contiguous):
        raise unsupported("reshape", f"order={order!r} (the kernels lay out in C order)")
    if copy is False:
        raise unsupported("reshape", "copy=False (the result is a new array)")
    return FUNCTIONS["reshape"](a, shape)


def transpose(a, axes=None):
    return FUNCTIONS["transpose"](a, axes)


def _concatenate(name: str) -> Callable:
    def concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
        if casting != "same_kind":
            raise unsupported(name, f"casting={casting!r}")
        return finish(name, FUNCTIONS[name](arrays, axis=axis), out, dtype)

    return concatenate


def where(condition, x=NOVALUE, y=NOVALUE, /):
    if x is NOVALUE or y is NOVALUE:
        raise unsupported("where", "the one-argument form (indices of nonzero elements)")
    return FUNCTIONS["where"](condition, x, y)


def take(a, indices, axis=None, out=None, mode="raise"):
    if mode != "raise":
        raise unsupported("take", f"mode={mode!r}")
    if axis is None:  # numpy takes from the flattened array
        a, axis = FUNCTIONS["reshape"](a, (-1,)), 0
    return finish("take", FUNCTIONS["take"](a, indices, axis=axis), out)


def take_along_axis(arr, indices, axis=-1):
    if axis is None:
        arr, axis = FUNCTIONS["reshape"](arr, (-1,)), 0
    return FUNCTIONS["take_along_axis"](arr, indices, axis=axis)


def broadcast_to(array, shape, subok=False):
    return FUNCTIONS["broadcast_to"](array, shape)


def pad(array, pad_width, mode="constant", **kwargs):
    if mode == "constant":
        value = kwargs.pop("constant_values", 0)
        if kwargs:
            raise unsupported("pad", f"{sorted(kwargs)}")
        values = np.unique(np.asarray(value, dtype=np.float64))
        if values.size != 1:
            raise unsupported("pad", "different constant_values per side")
        return FUNCTIONS["pad"](array, pad_width, float(values[0]))
    if kwargs:
        raise unsupported("pad", f"{sorted(kwargs)} with mode={mode!r}")
    if mode in ("reflect", "edge", "wrap"):
        return FUNCTIONS["pad_mode"](array, pad_width, mode=mode)
    raise unsupported("pad", f"mode={mode!r}")


def round_(a, decimals=0, out=None):
    if decimals != 0:
        raise unsupported("round", f"decimals={decimals}")
    return finish("round", FUNCTIONS["round"](a), out)


def _isinf_side(name: str) -> Callable:
    def check(x, out=None):
        return finish(name, FUNCTIONS[name](x), out)

    return check


def numpy_signatures() -> dict[str, Callable]:
    """Every op-library name that numpy also has, with numpy's signature."""
    table: dict[str, Callable] = {
        "mean": _mean,
        "clip": clip,
        "reshape": reshape,
        "transpose": transpose,
        "where": where,
        "take": take,
        "take_along_axis": take_along_axis,
        "broadcast_to": broadcast_to,
        "pad": pad,
        "round": round_,
    }
    for name in ("sum", "prod"):
        table[name] = _reduction(name, FUNCTIONS[name], with_dtype=True)
    for name in ("max", "min", "amax", "amin"):
        table[name] = _reduction(name, FUNCTIONS[name], with_dtype=False)
    for name in ("argmax", "argmin"):
        table[name] = _arg(name)
    for name in ("cumsum", "cumprod"):
        table[name] = _cumulative(name)
    for name in ("concatenate", "concat"):
        table[name] = _concatenate(name)
    for name in ("isneginf", "isposinf"):
        table[name] = _isinf_side(name)
    for name, fn in FUNCTIONS.items():
        np_fn = getattr(np, name, None)
        if isinstance(np_fn, np.ufunc) and name not in table:
            table[name] = _ufunc(name, fn, np_fn.nin)
    for name, fn in table.items():
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = fn.__doc__ or FUNCTIONS[name].__doc__
    return table

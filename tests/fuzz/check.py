"""One fuzz example: the op through the numpy API against its numpy reference.

The verdict: equal within the op's tolerances (NaN where the reference has NaN), or both refuse the input,
or wasmops refuses it with a clear exception of the documented kinds (ValueError / TypeError / IndexError /
OverflowError raised before wasm runs). Anything else — a different value, dtype or shape, a KernelError or
trap, an answer where the reference refuses — is a failure.
"""

from __future__ import annotations

import warnings

import numpy as np

import wasmops
from wasmops.ops import all_ops

from .strategies import Example, tolerance

REFUSALS = (ValueError, TypeError, IndexError, OverflowError)


#: ops whose outputs are sums (of products) of their float inputs: a sum that cancels (terms of 1e15, result of
#: 1e12) carries the rounding of its terms, which float32 accumulation and the float64 reference do differently,
#: so their error is bounded relative to the sum of the terms' magnitudes: the op on |inputs|
MULTILINEAR = {"conv2d", "conv_transpose2d", "dense", "matmul", "sum", "mean", "cumsum"}


class Mismatch(AssertionError):
    pass


def _magnitude(op, ex: Example) -> np.ndarray:
    """sum |a_i * b_i| per output: the op's reference on the absolute values of its float inputs."""
    absolute = [np.abs(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for v in ex.inputs]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        mag = np.asarray(op.reference(*absolute, **ex.attrs), np.float64)
    return np.where(np.isfinite(mag), mag, 0.0)


def check(op_name: str, ex: Example) -> str:
    """'ok', 'refused' (a documented exception) or raises Mismatch naming the difference."""
    op = all_ops()[op_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow / invalid-value warnings of the reference are expected
        try:
            want = op.reference(*ex.inputs, **ex.attrs)
            ref_error = None
        except Exception as exc:  # noqa: BLE001 - any refusal of the reference is compared below
            want, ref_error = None, exc
    try:
        got = getattr(wasmops, op_name)(*ex.inputs, **ex.attrs)
    except REFUSALS as exc:
        if isinstance(exc, wasmops.KernelError):  # never a documented refusal
            raise Mismatch(f"{op_name}: kernel failed: {exc}") from None
        if op_name not in str(exc) and not str(exc):
            raise Mismatch(f"{op_name}: refused without naming the op: {exc!r}") from None
        return "refused"
    except Exception as exc:  # noqa: BLE001
        raise Mismatch(f"{op_name}: raised {type(exc).__name__}: {exc}") from None
    if ref_error is not None:
        raise Mismatch(f"{op_name}: returned a result where the reference raised {ref_error!r}")
    want = np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        raise Mismatch(f"{op_name}: dtype/shape {got.dtype}{got.shape} != reference {want.dtype}{want.shape}")
    if got.dtype.kind == "f":
        rtol, atol = tolerance(op_name)
        if op_name in MULTILINEAR:  # sums of products: error relative to the terms' size, not to the sum's
            ok = np.isclose(got, want, rtol=rtol, atol=atol + rtol * _magnitude(op, ex), equal_nan=True)
            if not ok.all():
                bad = tuple(np.argwhere(~ok)[0])
                raise Mismatch(f"{op_name}: at {bad} {got[bad]!r} != {want[bad]!r} (beyond {rtol} of the terms' sum)")
            return "ok"
        try:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as exc:
            raise Mismatch(f"{op_name}: {str(exc).strip()}") from None
    elif not np.array_equal(got, want):
        bad = np.argwhere(got != want)[:5].tolist()
        raise Mismatch(f"{op_name}: differs at {bad}")
    return "ok"

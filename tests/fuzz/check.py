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
from .training_terms import TERMS

REFUSALS = (ValueError, TypeError, IndexError, OverflowError)


#: ops whose outputs are sums (of products) of their float inputs: a sum that cancels (terms of 1e15, result of
#: 1e12) carries the rounding of its terms, which float32 accumulation and the float64 reference do differently,
#: so their error is bounded relative to the sum of the terms' magnitudes: the op on |inputs|
MULTILINEAR = {"conv2d", "conv_transpose2d", "dense", "matmul", "sum", "mean", "cumsum", "avg_pool2d",
               "global_avg_pool2d", "conv2d_backward_data", "conv2d_backward_weight", "dense_backward_data",
               "dense_backward_weight", "bias_grad", "avg_pool2d_backward"}  # fmt: skip


def _abs_finite(v) -> np.ndarray:
    a = np.abs(np.asarray(v, np.float64))
    return np.where(np.isfinite(a), a, 0.0)


#: the size an op's rounding error is relative to, where that is not the output's own size (see _magnitude)
MAGNITUDE = {
    # cubic weights have mixed signs: a result near 0 from big pixels carries their rounding
    "resize2d": lambda inputs, attrs: np.max(_abs_finite(inputs[0]), initial=0.0),
    # a normalised value near 0 (x near the row mean) has an absolute error of ~1e-7, scaled by the scale
    "layer_norm": lambda inputs, attrs: sum(_abs_finite(p) for p in inputs[1:3] if p is not None),
}
MAGNITUDE.update(TERMS)  # the training ops (tests/fuzz/training_terms.py)


class Mismatch(AssertionError):
    """A failed check; `example` holds the one input set that failed (for the failure log)."""

    example: Example | None = None


def _magnitude(op, ex: Example) -> np.ndarray:
    """sum |a_i * b_i| per output: the op's reference on the absolute values of its float inputs."""
    absolute = [np.abs(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for v in ex.inputs]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if op.name in MAGNITUDE:  # a list for a multi-output op: one size per output
            mag = MAGNITUDE[op.name](ex.inputs, ex.attrs)
            return mag if isinstance(mag, list) else np.asarray(mag)
        mag = np.asarray(op.reference(*absolute, **ex.attrs), np.float64)
    return np.where(np.isfinite(mag), mag, 0.0)


def check(op_name: str, ex: Example) -> list[str]:
    """A verdict per input set of `ex`: 'ok' or 'refused' (a documented exception); raises Mismatch naming the
    difference at the first set that fails."""
    verdicts = []
    for inputs in ex.all_inputs():
        one = Example(inputs, ex.attrs)
        try:
            verdicts.append(_check_one(op_name, one))
        except Mismatch as exc:
            exc.example = one
            raise
    return verdicts


def _check_one(op_name: str, ex: Example) -> str:
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
        if op_name not in str(exc):  # a Python-level TypeError (a bad call) would otherwise pass as a refusal
            raise Mismatch(f"{op_name}: refused without naming the op: {exc!r}") from None
        return "refused"
    except Exception as exc:  # noqa: BLE001
        raise Mismatch(f"{op_name}: raised {type(exc).__name__}: {exc}") from None
    if ref_error is not None:
        raise Mismatch(f"{op_name}: returned a result where the reference raised {ref_error!r}")
    if isinstance(want, tuple | list):  # multi-output ops (batch_norm_train, adam_update, ...): each output
        if not isinstance(got, tuple | list) or len(got) != len(want):
            raise Mismatch(f"{op_name}: {type(got).__name__} result where the reference gives {len(want)} outputs")
        magnitudes = _magnitude(op, ex) if op_name in MAGNITUDE else [None] * len(want)
        for k, (g, w, m) in enumerate(zip(got, want, magnitudes, strict=True)):
            _compare(f"{op_name} output {k}", op_name, np.asarray(g), np.asarray(w), m)
        return "ok"
    magnitude = _magnitude(op, ex) if op_name in MULTILINEAR or op_name in MAGNITUDE else None
    _compare(op_name, op_name, got, np.asarray(want), magnitude)
    return "ok"


def _compare(what: str, op_name: str, got: np.ndarray, want: np.ndarray, magnitude) -> None:
    """Equal dtype and shape; floats within the op's tolerances (plus rtol of `magnitude`, the size of the terms
    the result was computed from, where given), NaN where the reference has NaN; other dtypes exactly."""
    if got.dtype != want.dtype or got.shape != want.shape:
        raise Mismatch(f"{what}: dtype/shape {got.dtype}{got.shape} != reference {want.dtype}{want.shape}")
    if got.dtype.kind == "f":
        rtol, atol = tolerance(op_name)
        if magnitude is not None:  # error relative to the terms' size, not the result's
            ok = np.isclose(got, want, rtol=rtol, atol=atol + rtol * magnitude, equal_nan=True)
            if not ok.all():
                bad = tuple(np.argwhere(~ok)[0])
                raise Mismatch(f"{what}: at {bad} {got[bad]!r} != {want[bad]!r} (beyond {rtol} of the terms' size)")
            return
        try:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as exc:
            raise Mismatch(f"{what}: {str(exc).strip()}") from None
    elif not np.array_equal(got, want):
        bad = np.argwhere(got != want)[:5].tolist()
        raise Mismatch(f"{what}: differs at {bad}")

"""Bad inputs to the binary, reduce and softmax ops fail before wasm with numpy-style errors naming the op;
the library stays usable afterwards."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops

from .errors import assert_rejected

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
XI = X.astype(np.int32)


def _still_works() -> None:
    np.testing.assert_array_equal(wasmops.add(X, X[0]), X + X[0])
    np.testing.assert_array_equal(wasmops.sum(XI, axis=1), XI.sum(axis=1, dtype=np.int32))
    np.testing.assert_allclose(
        wasmops.softmax(X),
        np.exp(X - X.max(-1, keepdims=True)) / np.exp(X - X.max(-1, keepdims=True)).sum(-1, keepdims=True),
        rtol=1e-5,
    )


AxisError = np.exceptions.AxisError
_ALTERNATING = (np.ones((2, 1, 2, 1, 2, 1), np.float32), np.ones((1, 2, 1, 2, 1, 2), np.float32))
_SEVEN_GROUPS = np.ones((2, 3, 2, 3, 2, 3, 2, 3), np.float32)

BAD = [
    # (function, args, kwargs, exception, message fragment)
    ("add", (X.astype(np.float64), X), {}, TypeError, "float64"),
    ("add", (X, XI), {}, TypeError, "different dtypes"),
    ("subtract", (XI, 2.5), {}, TypeError, "Python float"),
    ("multiply", (3.5, XI), {}, TypeError, "Python float"),
    ("add", (XI, 2**40), {}, OverflowError, "out of bounds for int32"),
    ("divide", (XI, XI), {}, TypeError, "int32"),
    ("power", (XI, 2), {}, TypeError, "int32"),
    ("power", (X, X.astype(np.float16)), {}, TypeError, "float16"),
    ("maximum", (X.astype(np.bool_), X), {}, TypeError, "bool"),
    ("add", (X, np.ones(5, np.float32)), {}, ValueError, "could not be broadcast together with shapes (2, 3, 4) (5,)"),
    ("minimum", (X, np.ones((3, 3), np.float32)), {}, ValueError, "could not be broadcast"),
    ("add", _ALTERNATING, {}, ValueError, "at most 5"),
    ("sum", (X.astype(np.float64),), {}, TypeError, "float64"),
    ("mean", (XI,), {}, TypeError, "int32"),
    ("max", (X.astype(np.int64),), {}, TypeError, "int64"),
    ("sum", (X,), {"axis": 3}, AxisError, "out of bounds"),
    ("mean", (X,), {"axis": (0, -4)}, AxisError, "out of bounds"),
    ("max", (X,), {"axis": (1, -2)}, ValueError, "duplicate value in 'axis'"),
    ("sum", (X,), {"axis": 1.0}, TypeError, "axis must be"),
    ("sum", (X,), {"axis": (0, "1")}, TypeError, "axis must be"),
    ("max", (np.zeros((3, 0), np.float32),), {"axis": 1}, ValueError, "zero-size array to reduction operation maximum"),
    ("max", (np.zeros((0, 3), np.int32),), {}, ValueError, "which has no identity"),
    ("sum", (_SEVEN_GROUPS,), {"axis": (1, 3, 5, 7)}, ValueError, "reduced groups"),
    ("softmax", (XI,), {}, TypeError, "int32"),
    ("log_softmax", (X.astype(np.float64),), {}, TypeError, "float64"),
    ("softmax", (np.float32(1.0),), {}, ValueError, "rank >= 1"),
    ("softmax", (X,), {"axis": 3}, AxisError, "out of bounds"),
    ("log_softmax", (X,), {"axis": -4}, AxisError, "out of bounds"),
    ("softmax", (X,), {"axis": (0, 1)}, TypeError, "axis must be an int"),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "exc", "fragment"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_raises_and_library_recovers(runtime, name, args, kwargs, exc, fragment):
    assert_rejected(name, args, kwargs, exc, fragment)
    _still_works()


def test_axis_error_is_a_value_error():
    """numpy's AxisError subclasses ValueError (and IndexError): callers catching either keep working."""
    with pytest.raises(ValueError, match="sum"):
        wasmops.sum(X, axis=5)


def test_weak_scalars_follow_the_array_dtype():
    assert wasmops.add(XI, 3).dtype == np.int32
    assert wasmops.multiply(2, X).dtype == np.float32
    assert wasmops.divide(X, 2).dtype == np.float32
    np.testing.assert_array_equal(wasmops.subtract(10, XI), 10 - XI)

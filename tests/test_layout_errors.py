"""Bad inputs to the layout ops fail before wasm with numpy-style errors naming the op; the library stays usable."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops
from wasmops.ops import Call

from .errors import assert_rejected

X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def _still_works() -> None:
    np.testing.assert_array_equal(wasmops.transpose(X, (2, 0, 1)), X.transpose(2, 0, 1))
    np.testing.assert_array_equal(wasmops.concatenate([X, X], axis=1), np.concatenate([X, X], axis=1))


BAD = [
    # (function, args, kwargs, exception, message fragment)
    ("transpose", (X.astype(np.float64),), {}, TypeError, "float64"),
    ("transpose", (X,), {"axes": (0, 1)}, ValueError, "don't match"),
    ("transpose", (X,), {"axes": (0, 0, 1)}, ValueError, "repeated axis"),
    ("transpose", (X,), {"axes": (0, 1, 3)}, np.exceptions.AxisError, "out of bounds"),
    ("transpose", (X,), {"axes": 1}, ValueError, "sequence of ints"),
    ("transpose", (X,), {"axes": (0, 1.0, 2)}, ValueError, "sequence of ints"),
    ("transpose", (np.zeros((2,) * 13, np.float32),), {"axes": tuple(range(12, -1, -1))}, ValueError, "unmergeable"),
    ("reshape", (X.astype(np.int64),), {"shape": (24,)}, TypeError, "int64"),
    ("reshape", (X,), {"shape": (4,)}, ValueError, "cannot reshape array of size 24 into shape (4,)"),
    ("reshape", (X,), {"shape": (-1, -1)}, ValueError, "one unknown dimension"),
    ("reshape", (X,), {"shape": (-2, -12)}, ValueError, "negative dimensions"),
    ("reshape", (X,), {"shape": (5, -1)}, ValueError, "cannot reshape"),
    ("reshape", (np.zeros((0, 4), np.float32),), {"shape": (0, -1)}, ValueError, "cannot reshape"),
    ("reshape", (X,), {"shape": (2.0, 12)}, ValueError, "sequence of ints"),
    ("flatten", (X.astype(np.float16),), {}, TypeError, "float16"),
    ("flatten", (X,), {"start_dim": 2, "end_dim": 1}, ValueError, "cannot come after"),
    ("flatten", (X,), {"start_dim": 3}, np.exceptions.AxisError, "out of bounds"),
    ("flatten", (np.float32(1.0),), {"start_dim": 1}, np.exceptions.AxisError, "out of bounds"),
    ("concatenate", ([],), {}, ValueError, "at least one array"),
    ("concatenate", (X,), {}, TypeError, "sequence of arrays"),
    ("concatenate", ([X, X.astype(np.int32)],), {}, TypeError, "different dtypes"),
    ("concatenate", ([X, X.astype(np.float64)],), {}, TypeError, "float64"),
    ("concatenate", ([X, X[0]],), {}, ValueError, "same rank"),
    ("concatenate", ([X, X[:, :2]],), {"axis": 0}, ValueError, "along dimension 1"),
    ("concatenate", ([X, X],), {"axis": 3}, np.exceptions.AxisError, "out of bounds"),
    ("concatenate", ([X, X],), {"axis": 1.5}, ValueError, "axis must be"),
    ("concatenate", ([np.float32(1), np.float32(2)],), {}, ValueError, "zero-dimensional"),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "exc", "fragment"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_raises_and_library_recovers(runtime, name, args, kwargs, exc, fragment):
    assert_rejected(name, args, kwargs, exc, fragment)
    _still_works()


def test_concat_alias_and_fresh_results(runtime):
    """`concat` is the numpy alias; results never alias the inputs or wasm memory."""
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = wasmops.concat([a, a], axis=0)
    np.testing.assert_array_equal(out, np.concatenate([a, a]))
    r = wasmops.reshape(a, (3, 2))
    assert r.base is None or r.base is not a
    r[...] = 0
    np.testing.assert_array_equal(wasmops.reshape(a, (3, 2)), a.reshape(3, 2))


def test_plain_python_data_is_accepted(runtime):
    np.testing.assert_array_equal(wasmops.transpose([[1.0, 2.0], [3.0, 4.0]]), np.array([[1, 3], [2, 4]], np.float32))
    np.testing.assert_array_equal(wasmops.concatenate([[1, 2], [3]]), np.array([1, 2, 3], np.int32))


def test_tiled_kernel_with_no_contiguous_tile_dim(runtime):
    """`transpose_tiled` stays correct when loop 4 is not x's contiguous dim (the host never asks for
    full tiles that way, but the kernel must not depend on it): y[a, b] = x[3 * a + 61 * b]."""
    x = np.arange(4000, dtype=np.float32)
    e4, e5 = 20, 35
    scalars = (1, 1, 1, 1, e4, e5) + (0, 0, 0, 0, 3, 61) + (0, 0, 0, 0, e5)
    got = runtime.run(Call("f32_transpose_tiled", [x], (e4 * e5,), np.float32, scalars, (e4, e5)))
    a, b = np.meshgrid(np.arange(e4), np.arange(e5), indexing="ij")
    np.testing.assert_array_equal(got, x[3 * a + 61 * b])

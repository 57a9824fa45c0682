"""Bad inputs to pooling, pad and normalisation ops fail before wasm with numpy-style errors naming the op,
and the library keeps working after each one."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops

from .errors import assert_matches_reference, assert_rejected

X4 = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
C3 = np.ones(3, np.float32)

BAD = [
    # (op, args, kwargs, exception, text the message must contain)
    ("max_pool2d", (X4.astype(np.float64), 2), {}, TypeError, "float64"),
    ("max_pool2d", (X4.astype(np.int32), 2), {}, TypeError, "int32"),
    ("max_pool2d", (X4[0, 0], 2), {}, ValueError, "rank"),
    ("max_pool2d", (X4[None], 2), {}, ValueError, "rank"),
    ("max_pool2d", (X4, 7), {}, ValueError, "larger than the padded input"),
    ("max_pool2d", (X4, 3), {"dilation": 3}, ValueError, "larger than the padded input"),
    ("max_pool2d", (X4, 2), {"stride": 0}, ValueError, "stride"),
    ("max_pool2d", (X4, 2), {"stride": -1}, ValueError, "stride"),
    ("max_pool2d", (X4, 0), {}, ValueError, "kernel_size"),
    ("max_pool2d", (X4, (2, 2, 2)), {}, ValueError, "kernel_size"),
    ("max_pool2d", (X4, 3), {"padding": 3}, ValueError, "only of padding"),
    ("max_pool2d", (X4, 3), {"padding": (0, 0, 0, 3), "stride": 1}, ValueError, "only of padding"),
    ("max_pool2d", (X4, 3), {"padding": -1}, ValueError, "padding"),
    ("max_pool2d", (X4, 3), {"padding": (1, 1, 1)}, ValueError, "padding"),
    ("max_pool2d", (X4, 2), {"dilation": 0}, ValueError, "dilation"),
    ("max_pool2d", (np.zeros((1, 1, 0, 4), np.float32), 1), {}, ValueError, "spatial"),
    ("avg_pool2d", (X4.astype(np.float16), 2), {}, TypeError, "float16"),
    ("avg_pool2d", (X4[0, 0], 2), {}, ValueError, "rank"),
    ("avg_pool2d", (X4, 8), {}, ValueError, "larger than the padded input"),
    ("avg_pool2d", (X4, 2), {"stride": (1, 0)}, ValueError, "stride"),
    ("avg_pool2d", (X4, 2), {"padding": 2}, ValueError, "only of padding"),
    ("global_avg_pool2d", (X4.astype(np.int32),), {}, TypeError, "int32"),
    ("global_avg_pool2d", (X4[0],), {}, ValueError, "rank"),
    ("global_avg_pool2d", (np.zeros((1, 2, 3, 0), np.float32),), {}, ValueError, "spatial"),
    ("pad", (X4.astype(np.float64), 1), {}, TypeError, "float64"),
    ("pad", (X4, -1), {}, ValueError, "negative"),
    ("pad", (X4, ((0, 0), (1, -1), (0, 0), (0, 0))), {}, ValueError, "negative"),
    ("pad", (X4, ((1, 1), (1, 1))), {}, ValueError, "broadcast"),
    ("pad", (X4, (1, 2, 3)), {}, ValueError, "broadcast"),
    ("pad", (X4, 1.5), {}, TypeError, "integral"),
    ("pad", (X4, ((1, 2), (3,))), {}, ValueError, "pairs"),
    ("pad", (np.zeros((2,) * 7, np.float32), 1), {}, ValueError, "at most 6"),
    ("batch_norm", (X4.astype(np.float64), C3, C3, C3, C3), {}, TypeError, "float64"),
    ("batch_norm", (X4, C3.astype(np.int32), C3, C3, C3), {}, TypeError, "scale"),
    ("batch_norm", (X4[0, 0, 0], C3, C3, C3, C3), {}, ValueError, "rank"),
    ("batch_norm", (X4, np.ones(4, np.float32), C3, C3, C3), {}, ValueError, "scale"),
    ("batch_norm", (X4, C3, C3, C3, np.ones((3, 1), np.float32)), {}, ValueError, "var"),
    ("batch_norm", (X4, C3, C3, C3, C3), {"epsilon": -1.0}, ValueError, "epsilon"),
    ("layer_norm", (X4.astype(np.int32),), {}, TypeError, "int32"),
    ("layer_norm", (X4, np.ones(5, np.float32)), {}, ValueError, "scale"),
    ("layer_norm", (X4, None, np.ones((3, 6, 6), np.float32)), {}, ValueError, "bias"),
    ("layer_norm", (X4, np.ones((2, 3, 6, 6, 1), np.float32)), {"axis": 0}, ValueError, "scale"),
    ("layer_norm", (X4,), {"epsilon": float("nan")}, ValueError, "epsilon"),
    ("layer_norm", (X4,), {"axis": 4}, np.exceptions.AxisError, "axis"),
]

GOOD = {
    "max_pool2d": ((X4, 3), {"stride": 2, "padding": 1}),
    "avg_pool2d": ((X4, 3), {"stride": 2, "padding": 1, "count_include_pad": False}),
    "global_avg_pool2d": ((X4,), {}),
    "pad": ((X4, ((0, 0), (0, 0), (1, 2), (2, 1))), {"constant_value": -1.0}),
    "batch_norm": ((X4, C3, C3, C3, C3), {}),
    "layer_norm": ((X4,), {"axis": 1}),
}


@pytest.mark.parametrize("op,args,kwargs,exc,text", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises_and_library_recovers(op, args, kwargs, exc, text, runtime):
    assert_rejected(op, args, kwargs, exc, text)
    assert_matches_reference(op, *GOOD[op])


def test_stride_defaults_to_kernel_size(runtime):
    np.testing.assert_array_equal(wasmops.max_pool2d(X4, 2), wasmops.max_pool2d(X4, 2, stride=2))
    assert wasmops.avg_pool2d(X4, (3, 2)).shape == (2, 3, 2, 3)


def test_max_pool_propagates_nan(runtime):
    x = X4.copy()
    x[0, 0, 1, 1] = np.nan
    y = wasmops.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 0, 1]) and not np.isnan(y[0, 1]).any()

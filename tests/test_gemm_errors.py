"""Bad input to dense / matmul / conv2d: numpy-style errors naming the op, raised before entering wasm."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops

F = np.float32
x4 = np.ones((1, 4, 8, 8), F)
w4 = np.ones((6, 4, 3, 3), F)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: wasmops.conv2d(x4.astype(np.float64), w4), TypeError, "conv2d: x has dtype float64"),
        (lambda: wasmops.conv2d(x4[0], w4), ValueError, "conv2d: x must have rank 4"),
        (lambda: wasmops.conv2d(x4, w4, stride=-1), ValueError, "conv2d: stride must be >= 1"),
        (lambda: wasmops.conv2d(x4, w4, stride=0), ValueError, "conv2d: stride"),
        (lambda: wasmops.conv2d(x4, np.ones((6, 2, 3, 3), F), groups=3), ValueError, "conv2d: groups=3 must divide"),
        (lambda: wasmops.conv2d(x4, np.ones((6, 3, 3, 3), F)), ValueError, "conv2d: weight has 3 input channels"),
        (lambda: wasmops.conv2d(x4, w4, bias=np.ones(5, F)), ValueError, r"conv2d: bias must have shape \(6,\)"),
        (lambda: wasmops.conv2d(x4, np.ones((6, 4, 9, 9), F)), ValueError, "conv2d: kernel 9x9"),
        (lambda: wasmops.conv2d(x4, w4, padding="full"), ValueError, "conv2d: padding must be"),
        (lambda: wasmops.conv2d(x4, w4, padding=(1, 2, 3)), ValueError, "conv2d: padding must be"),
        (lambda: wasmops.conv2d(x4, w4, stride=2, padding="same"), ValueError, "conv2d: padding='same' needs"),
        (lambda: wasmops.dense(np.ones((2, 5), F), np.ones((3, 4), F)), ValueError, "dense: x has 5 features"),
        (lambda: wasmops.dense(np.ones((2, 4), np.int32), np.ones((3, 4), F)), TypeError, "dense: x has dtype int32"),
        (lambda: wasmops.dense(np.ones((2, 4), F), np.ones(4, F)), ValueError, "dense: weight must have rank 2"),
        (lambda: wasmops.matmul(np.ones((2, 3), F), np.ones((4, 2), F)), ValueError, "matmul: contracted dims"),
        (lambda: wasmops.matmul(np.ones((2, 2, 3), F), np.ones((3, 3, 2), F)), ValueError, "matmul: batch dims"),
        (
            lambda: wasmops.matmul(np.ones((2, 1, 2, 1, 2, 3), F), np.ones((1, 2, 1, 2, 3, 2), F)),
            ValueError,
            "matmul: batch broadcasting",
        ),
        (lambda: wasmops.matmul(np.ones(3, F), np.ones((), F)), ValueError, "matmul: b must have rank"),
    ],
)
def test_bad_input_raises_before_wasm_and_runtime_stays_usable(call, error, message):
    with pytest.raises(error, match=message):
        call()
    y = wasmops.conv2d(x4, w4, padding=1)
    assert y.shape == (1, 6, 8, 8) and np.allclose(y[0, :, 3, 3], 36.0)


def test_array_likes_are_accepted_as_float32():
    y = wasmops.dense([[1.0, 2.0]], [[3.0, 4.0]], [0.5])
    assert y.dtype == np.float32 and y.tolist() == [[11.5]]

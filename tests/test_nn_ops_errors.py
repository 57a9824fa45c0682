"""Bad inputs to lrn, conv_transpose2d, resize2d and pad_mode fail before wasm with numpy-style errors naming
the op, and the library keeps working after each one."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops
from wasmops.ops.spec import TensorRef

from .errors import assert_matches_reference, assert_rejected

X4 = np.arange(2 * 4 * 5 * 5, dtype=np.float32).reshape(2, 4, 5, 5) / 50
W = np.ones((4, 3, 3, 3), np.float32) / 10

BAD = [
    # (op, args, kwargs, exception, text the message must contain)
    ("lrn", (X4.astype(np.float64), 5), {}, TypeError, "float64"),
    ("lrn", (X4.astype(np.int32), 5), {}, TypeError, "int32"),
    ("lrn", (X4[0, 0], 5), {}, ValueError, "rank"),
    ("lrn", (X4, 0), {}, ValueError, "size"),
    ("lrn", (X4, 2.5), {}, ValueError, "size"),
    ("lrn", (X4, 5), {"bias": 0.0}, ValueError, "bias"),
    ("lrn", (X4, 5), {"alpha": -1.0}, ValueError, "alpha"),
    ("lrn", (X4, 5), {"beta": float("nan")}, ValueError, "finite"),
    ("conv_transpose2d", (X4.astype(np.float64), W), {}, TypeError, "float64"),
    ("conv_transpose2d", (X4, W.astype(np.int32)), {}, TypeError, "weight"),
    ("conv_transpose2d", (X4[0], W), {}, ValueError, "rank"),
    ("conv_transpose2d", (X4, W[0]), {}, ValueError, "rank"),
    ("conv_transpose2d", (X4, W[:3]), {}, ValueError, "input channels"),
    ("conv_transpose2d", (X4, W), {"groups": 3}, ValueError, "groups"),
    ("conv_transpose2d", (X4, W), {"groups": 0}, ValueError, "groups"),
    ("conv_transpose2d", (X4, W), {"stride": 0}, ValueError, "stride"),
    ("conv_transpose2d", (X4, W), {"dilation": (1, 0)}, ValueError, "dilation"),
    ("conv_transpose2d", (X4, W), {"padding": -1}, ValueError, "padding"),
    ("conv_transpose2d", (X4, W), {"padding": (1, 1, 1)}, ValueError, "padding"),
    ("conv_transpose2d", (X4, W), {"padding": 4}, ValueError, "empty output"),
    ("conv_transpose2d", (X4, W), {"stride": 2, "output_padding": 2}, ValueError, "output_padding"),
    ("conv_transpose2d", (X4, W), {"output_padding": 1}, ValueError, "output_padding"),
    ("conv_transpose2d", (X4, W, np.ones(4, np.float32)), {}, ValueError, "bias"),
    ("conv_transpose2d", (X4, W, np.ones((3, 1), np.float32)), {}, ValueError, "rank"),
    ("conv_transpose2d", (np.zeros((1, 4, 0, 3), np.float32), W), {}, ValueError, "spatial"),
    ("conv_transpose2d", (X4, TensorRef(W.shape, np.float32)), {}, ValueError, "host array"),
    ("resize2d", (X4.astype(np.int32),), {"size": 3}, TypeError, "int32"),
    ("resize2d", (X4[0],), {"size": 3}, ValueError, "rank"),
    ("resize2d", (X4,), {}, ValueError, "size or scales"),
    ("resize2d", (X4,), {"size": (0, 3)}, ValueError, "size"),
    ("resize2d", (X4,), {"size": (2, 3, 4)}, ValueError, "size"),
    ("resize2d", (X4,), {"scales": -2.0}, ValueError, "scales"),
    ("resize2d", (X4,), {"scales": (1.0, 2.0, 3.0)}, ValueError, "scales"),
    ("resize2d", (X4,), {"scales": 0.1}, ValueError, "empty output"),
    ("resize2d", (X4,), {"size": 3, "mode": "area"}, ValueError, "mode"),
    ("resize2d", (X4,), {"size": 3, "coordinate_transformation_mode": "tf_crop"}, ValueError, "coordinate"),
    (
        "resize2d",
        (X4,),
        {"size": 3, "coordinate_transformation_mode": "tf_crop_and_resize", "roi": (0, 1)},
        ValueError,
        "roi",
    ),
    ("resize2d", (X4,), {"size": 3, "nearest_mode": "round"}, ValueError, "nearest_mode"),
    ("resize2d", (np.zeros((1, 1, 0, 4), np.float32),), {"size": 3}, ValueError, "spatial"),
    ("pad_mode", (X4.astype(np.float64), 1), {}, TypeError, "float64"),
    ("pad_mode", (X4, 1), {"mode": "constant"}, ValueError, "mode"),
    ("pad_mode", (X4, -1), {}, ValueError, "negative"),
    ("pad_mode", (X4, ((1, 1), (1, 1))), {}, ValueError, "broadcast"),
    ("pad_mode", (X4, 1.5), {}, TypeError, "integral"),
    ("pad_mode", (X4, ((1, 2), (3,))), {}, ValueError, "pairs"),
    ("pad_mode", (np.zeros((3, 0), np.float32), 1), {"mode": "edge"}, ValueError, "empty"),
    ("pad_mode", (np.float32(1.0), 1), {}, ValueError, "rank"),
    ("pad_mode", (np.zeros((2,) * 7, np.float32), 1), {}, ValueError, "at most 6"),
]

GOOD = {
    "lrn": ((X4, 3), {"alpha": 0.5, "beta": 0.75}),
    "conv_transpose2d": ((X4, W), {"stride": 2, "padding": 1, "output_padding": 1}),
    "resize2d": ((X4,), {"scales": 2.0, "mode": "linear"}),
    "pad_mode": ((X4, ((0, 0), (0, 0), (2, 2), (1, 3))), {"mode": "reflect"}),
}


@pytest.mark.parametrize("op,args,kwargs,exc,text", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises_and_library_recovers(op, args, kwargs, exc, text, runtime):
    assert_rejected(op, args, kwargs, exc, text)
    assert_matches_reference(op, *GOOD[op])


def test_lrn_beta_fast_path_matches_general(runtime):
    """beta = 0.75 runs the sqrt kernel; a beta one ulp away runs exp / log: both agree."""
    a = wasmops.lrn(X4, 5, alpha=1.0, beta=0.75)
    b = wasmops.lrn(X4, 5, alpha=1.0, beta=float(np.nextafter(0.75, 1.0)))
    np.testing.assert_allclose(a, b, rtol=1e-5)

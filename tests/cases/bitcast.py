"""bitcast: float32 <-> int32 bit reinterpretation, on sizes around the 16-lane block and on special values."""

from __future__ import annotations

import numpy as np

from . import Case, rand

_SPECIAL = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -3.4e38, 1.0, -2.5])
_BITS = np.int32([0, -1, 1, 2**31 - 1, -(2**31), 0x7F800000, 0x00000001, 0x3F800000, -1082130432])

CASES = [
    Case("bitcast", (_SPECIAL,), {"dtype": "int32"}, rtol=0, atol=0, id="f32-special"),
    Case("bitcast", (_BITS,), {"dtype": "float32"}, rtol=0, atol=0, id="i32-special"),
]
for shape in [(16,), (17,), (3, 5, 7), ()]:
    CASES.append(Case("bitcast", (rand(*shape),), {"dtype": "int32"}, rtol=0, atol=0, id=f"f32{shape}"))
    ints = rand(*shape, dtype="int32", low=-(2**20), high=2**20)
    CASES.append(Case("bitcast", (ints,), {"dtype": "float32"}, rtol=0, atol=0, id=f"i32{shape}"))

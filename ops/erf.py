"""erf: the Gauss error function, elementwise (ONNX Erf), on the unary ops' pattern (ops/unary.py).

TVM's `topi.fast_erf` (a rational approximation, saturating to +-1 beyond |x| ~ 4) over the tensor seen as
(blocks, 16) rows: one blocked kernel, `f32_erf`, serves any shape with unpredicated v128 loops.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import BLOCK, TENSOR, Call, Kernel, Op


class Erf(Op):
    """erf(x): the error function, elementwise; any shape, float32."""

    name = "erf"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_erf", self._build, (TENSOR, TENSOR))]

    def _build(self):
        from tvm import te, topi

        from .simd_schedules import dims, prim_func, schedule_injective

        (n,) = dims("blocks")
        x = te.placeholder((n, BLOCK), "float32", name="x")
        return schedule_injective(prim_func([x, topi.fast_erf(x)]))

    def reference(self, x) -> np.ndarray:
        # numpy has no erf; math.erf is exact to double precision
        x = np.asarray(x)
        return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)).astype(np.float32)

    def plan(self, x: np.ndarray) -> Call:
        """erf(x) = 2 / sqrt(pi) * integral of exp(-t**2) from 0 to x, elementwise (ONNX Erf).

        x: any shape, float32. Returns float32 of x's shape; erf(+-inf) = +-1.
        """
        x = self.tensor(x, "x", ("float32",))
        return Call("f32_erf", [x], x.shape, x.dtype, blocked=True)


OPS = [Erf()]

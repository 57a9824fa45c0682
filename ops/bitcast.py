"""bitcast: reinterpret the 32 bits of each float32 / int32 element as the other dtype (ONNX BitCast).

Blocked elementwise kernels `f32_bitcast_to_i32` and `i32_bitcast_to_f32` (tvm reinterpret, one wasm
`i32.reinterpret_f32` per lane); NaN payloads and the sign of zero pass through unchanged, as numpy's .view.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import Call, Kernel, Op
from .tensor_ops import _blocked

_PAIRS = {("float32", "int32"): "f32_bitcast_to_i32", ("int32", "float32"): "i32_bitcast_to_f32"}


def _reinterpret(dtype: str):
    def fn(v):
        import tvm

        return tvm.tirx.reinterpret(dtype, v)

    return fn


class BitCast(Op):
    """bitcast(x, dtype): x.view(dtype) between float32 and int32."""

    name = "bitcast"

    def kernels(self) -> list[Kernel]:
        return [_blocked(name, src, dst, _reinterpret(dst)) for (src, dst), name in _PAIRS.items()]

    def _target(self, x: Any, dtype: Any) -> np.dtype:
        target = np.dtype(dtype)
        if (np.dtype(x.dtype).name, target.name) not in _PAIRS:
            raise TypeError(
                f"{self.name}: cannot reinterpret {np.dtype(x.dtype).name} as {target.name}; "
                "supported: float32 <-> int32"
            )
        return target

    def reference(self, x, dtype) -> np.ndarray:
        x = np.asarray(x)
        return x.copy().view(self._target(x, dtype))  # a C-ordered copy (ascontiguousarray makes 0-d 1-d)

    def plan(self, x: np.ndarray, dtype: str | np.dtype) -> Call:
        """The bits of x (float32 or int32, any shape) read as `dtype` (the other one), as a new array."""
        x = self.tensor(x, "x", ("float32", "int32"))
        target = self._target(x, dtype)
        name = _PAIRS[(x.dtype.name, target.name)]
        return Call(name, [x], (x.size,), target, result_shape=x.shape, blocked=True)


OPS = [BitCast()]

"""Strided copies: slice (ONNX Slice semantics), broadcast_to and the `fold` helper other tensor ops share.

Both ops return a fresh array made by one kernel, `<dt>_strided_copy` (ops/_tensor_kernels.py): the output
is a RANK-D array and x is read flat at `offset + sum(i_k * stride_k)`, one int-scalar element stride per
output dim (0 where x is broadcast, negative for a reversed slice). The host drops size-1 dims and merges
dims that walk x like one (`fold`), so any rank fits unless more than RANK dims stay unmergeable. The
kernel copies whole rows when the innermost stride is 1 (`memory.copy`), splats when it is 0 and gathers
element by element otherwise (a step on the last axis).

dtypes: float32, int32 and bool (masks are sliced and expanded too). Splitting a tensor is a list of
slices: the ONNX Split translator calls `slice` once per output (the numpy API returns one array per call).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .spec import INT, TENSOR, Call, Kernel, Op, TensorRef

DTYPES = ("float32", "int32", "bool")
RANK = 6  # = _tensor_kernels.RANK (that module imports TVM, so the constant is repeated here)
_PREFIX = {"float32": "f32", "int32": "i32", "bool": "bool"}


def kernel_prefix(dtype: np.dtype) -> str:
    """spec.prefix extended with bool (kernel names like `bool_strided_copy`)."""
    return _PREFIX[np.dtype(dtype).name]


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """C-order element strides."""
    return tuple(math.prod(shape[k + 1 :]) for k in range(len(shape)))


def broadcast_strides(shape: Sequence[int], out_shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of a contiguous array of `shape` read as `out_shape` (numpy alignment, 0 = broadcast)."""
    lead = len(out_shape) - len(shape)
    strides = contiguous_strides(shape)
    return tuple(0 if k < lead or shape[k - lead] == 1 else strides[k - lead] for k in range(len(out_shape)))


def fold(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> list[tuple[int, tuple[int, ...]]]:
    """(extent, per-input strides) per output dim, outer first, size-1 dims dropped and mergeable runs merged.

    Dims k, k+1 merge when every input has stride_k == extent_{k+1} * stride_{k+1}: they walk each input
    like one dim. An empty output is one dim of extent 0; a single element is one dim of extent 1.
    """
    zeros = (0,) * len(strides)
    if math.prod(shape) == 0:
        return [(0, zeros)]
    dims: list[tuple[int, tuple[int, ...]]] = []
    for k, n in enumerate(shape):
        if n == 1:
            continue
        s = tuple(int(st[k]) for st in strides)
        if dims and all(p == n * q for p, q in zip(dims[-1][1], s, strict=True)):
            dims[-1] = (dims[-1][0] * n, s)
        else:
            dims.append((n, s))
    return dims or [(1, zeros)]


def _array(op: Op, x, what: str) -> np.ndarray | TensorRef:
    """op.tensor, keeping 0-d arrays 0-d."""
    arr = op.tensor(x, what, DTYPES)
    return arr if isinstance(arr, TensorRef) else arr.reshape(np.shape(x))


def _copy(op: Op, x, offset: int, dims: list[tuple[int, int]], out_shape: tuple[int, ...]) -> Call:
    """One strided_copy Call: `dims` = (extent, x stride) per output dim, already folded."""
    if len(dims) > RANK:
        raise op.fail(f"the copy leaves {len(dims)} dims that cannot be merged; at most {RANK} are supported")
    dims = [(1, 0)] * (RANK - len(dims)) + dims
    scalars = (offset, *(s for _, s in dims))
    return Call(
        f"{kernel_prefix(x.dtype)}_strided_copy",
        [x.reshape(-1)],
        tuple(n for n, _ in dims),
        x.dtype,
        scalars,
        out_shape,
    )


def _int_list(op: Op, value, what: str) -> list[int]:
    if isinstance(value, TensorRef):
        raise op.fail(f"{what} must be constant ints, not a tensor")
    vals = np.asarray(value)
    if vals.ndim > 1 or (vals.size and vals.dtype.kind not in "iu"):
        raise op.fail(f"{what} must be a sequence of ints, got {value!r}")
    return [int(v) for v in vals.reshape(-1)]


class Slice(Op):
    """slice(x, starts, ends, axes, steps): ONNX Slice, as a copy."""

    name = "slice"

    def kernels(self) -> list[Kernel]:
        def build(dtype: str):
            from . import _tensor_kernels

            return _tensor_kernels.strided_copy(dtype)

        params = (TENSOR, TENSOR) + (INT,) * (RANK + 1)
        return [Kernel(f"{_PREFIX[dt]}_strided_copy", lambda dt=dt: build(dt), params) for dt in DTYPES]

    def _slices(self, shape, starts, ends, axes, steps) -> list[slice]:
        starts, ends = _int_list(self, starts, "starts"), _int_list(self, ends, "ends")
        if len(starts) != len(ends):
            raise self.fail(f"starts ({len(starts)} values) and ends ({len(ends)} values) must have the same length")
        axes = list(range(len(starts))) if axes is None else _int_list(self, axes, "axes")
        steps = [1] * len(starts) if steps is None else _int_list(self, steps, "steps")
        if len(axes) != len(starts) or len(steps) != len(starts):
            raise self.fail(f"starts, ends, axes and steps must have the same length, got {starts}, {ends}, {axes}")
        if 0 in steps:
            raise self.fail(f"steps must not be 0, got {steps}")
        axes = [self.axis(a, len(shape)) for a in axes]
        if len(set(axes)) != len(axes):
            raise self.fail(f"repeated axis in axes {axes}")
        out = [slice(None)] * len(shape)
        for a, b, e, s in zip(axes, starts, ends, steps, strict=True):
            out[a] = slice(b, e, s)
        return out

    def reference(self, x, starts, ends, axes=None, steps=None) -> np.ndarray:
        x = np.asarray(x)
        return x[tuple(self._slices(x.shape, starts, ends, axes, steps))].copy()

    def plan(
        self,
        x: np.ndarray,
        starts: Sequence[int],
        ends: Sequence[int],
        axes: Sequence[int] | None = None,
        steps: Sequence[int] | None = None,
    ) -> Call:
        """Take x[starts:ends:steps] along `axes` (ONNX Slice), as a new array.

        x: any shape, float32, int32 or bool. starts, ends: one int per sliced axis. axes: the axes they
        apply to (default 0, 1, ...; negative values count from the end; no repeats). steps: non-zero ints
        (default 1; negative walks backwards). As in ONNX and Python slicing, negative starts/ends count from
        the end of the axis and out-of-range values are clamped, so ends of 2**63 - 1 mean "to the end" and,
        with a negative step, -2**63 means "through index 0". Axes not listed are kept whole.
        """
        x = _array(self, x, "x")
        slices = self._slices(x.shape, starts, ends, axes, steps)
        strides = contiguous_strides(x.shape)
        offset, out_shape, out_strides = 0, [], []
        for sl, n, st in zip(slices, x.shape, strides, strict=True):
            start, stop, step = sl.indices(n)
            count = len(range(start, stop, step))
            offset += start * st if count else 0
            out_shape.append(count)
            out_strides.append(step * st)
        dims = [(n, s[0]) for n, s in fold(out_shape, [out_strides])]
        return _copy(self, x, offset, dims, tuple(out_shape))


class BroadcastTo(Op):
    """broadcast_to(x, shape): numpy.broadcast_to, as a fresh (writable, contiguous) array."""

    name = "broadcast_to"
    uses = ("slice",)

    def kernels(self) -> list[Kernel]:
        return []  # runs `<dt>_strided_copy`, which the slice op owns

    def _shape(self, shape) -> tuple[int, ...]:
        vals = (shape,) if isinstance(shape, int | np.integer) else tuple(_int_list(self, shape, "shape"))
        if any(v < 0 for v in vals):
            raise self.fail(f"all elements of shape must be non-negative, got {vals}")
        return tuple(int(v) for v in vals)

    def _check(self, x_shape: tuple[int, ...], shape: tuple[int, ...]) -> None:
        lead = len(shape) - len(x_shape)
        if lead < 0 or any(d not in (1, shape[lead + k]) for k, d in enumerate(x_shape)):
            raise self.fail(f"cannot broadcast an array of shape {x_shape} to shape {shape}")

    def reference(self, x, shape) -> np.ndarray:
        x = np.asarray(x)
        shape = self._shape(shape)
        self._check(x.shape, shape)
        return np.broadcast_to(x, shape).copy()

    def plan(self, x: np.ndarray, shape: int | Sequence[int]) -> Call:
        """Repeat x along its size-1 (and new leading) dims to `shape` (numpy.broadcast_to), as a new array.

        x: any shape, float32, int32 or bool. shape: an int or a sequence of non-negative ints with at least
        x.ndim entries; aligned from the right, every dim of x must equal the target dim or be 1. (For ONNX
        Expand, whose target shape itself broadcasts, pass np.broadcast_shapes(x.shape, shape).)
        """
        x = _array(self, x, "x")
        shape = self._shape(shape)
        self._check(x.shape, shape)
        dims = [(n, s[0]) for n, s in fold(shape, [broadcast_strides(x.shape, shape)])]
        return _copy(self, x, 0, dims, shape)


OPS = [Slice(), BroadcastTo()]

"""take: numpy.take / ONNX Gather along one axis, with ONNX's negative indices; out-of-range ones raise.

a is viewed as (outer, n, inner) around `axis` and the output as (outer, m, inner) with m = indices.size;
the kernel `<dt>_take` (ops/_tensor_kernels.py) copies whole rows of `inner` elements (`memory.copy`), so
an embedding lookup (vocab, hidden)[ids] is one row copy per id.

An index i < 0 means i + n (as in numpy and ONNX). Indices known on the host (constants, numpy calls)
are checked by the plan (IndexError naming the index, as numpy); indices that are a graph tensor are only
known inside wasm, where the kernel checks them all before copying and fails the call (KernelError):
never a read out of bounds, never a clamped row.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import TENSOR, Call, Kernel, Op, TensorRef
from .strided import DTYPES, kernel_prefix

_I32 = np.iinfo(np.int32)


class Take(Op):
    """take(a, indices, axis): numpy.take with ONNX Gather's index rules."""

    name = "take"

    def kernels(self) -> list[Kernel]:
        def build(dtype: str):
            from . import _tensor_kernels

            return _tensor_kernels.take_rows(dtype)

        return [Kernel(f"{kernel_prefix(np.dtype(dt))}_take", lambda dt=dt: build(dt), (TENSOR,) * 3) for dt in DTYPES]

    def _indices(self, indices) -> np.ndarray | TensorRef:
        if isinstance(indices, np.ndarray | np.generic) and np.asarray(indices).dtype == np.int64:
            # numpy's default int: values beyond int32 are out of range of any axis (plan checks them first)
            indices = np.clip(indices, _I32.min, _I32.max).astype(np.int32)
        ind = self.tensor(indices, "indices", ("int32",))
        return ind if isinstance(ind, TensorRef) else ind.reshape(np.shape(indices))

    def _axis(self, a, axis: int | None) -> tuple[object, int]:
        if axis is None:
            return a.reshape(-1), 0
        if not isinstance(axis, int | np.integer):
            raise self.fail(f"axis must be an int or None, got {axis!r}")
        return a, self.axis(int(axis), a.ndim)

    def reference(self, a, indices, axis: int | None = 0) -> np.ndarray:
        a = np.asarray(a)
        ind = np.asarray(indices).astype(np.int64)
        a, axis = self._axis(a, axis)
        n = a.shape[axis]
        if n == 0 and ind.size:
            raise self.fail("cannot take from an empty axis")
        self._check(ind, n, axis)
        return np.take(a, np.where(ind < 0, ind + n, ind), axis=axis)

    def _check(self, ind: np.ndarray, n: int, axis: int) -> None:
        bad = ind[(ind < -n) | (ind >= n)]
        if bad.size:
            raise IndexError(
                f"{self.name}: index {int(bad.reshape(-1)[0])} is out of bounds for axis {axis} with size {n} "
                f"(valid: [{-n}, {n - 1}])"
            )

    def plan(self, a: np.ndarray, indices: np.ndarray, axis: int | None = 0) -> Call:
        """Pick entries of a along `axis` (numpy.take / ONNX Gather), as a new array.

        a: any shape of rank >= 1 (0-d with axis=None), float32, int32 or bool. indices: int32 of any shape
        (int64 numpy arrays are narrowed to int32; a Python int or a 0-d array drops the axis). axis: may be
        negative; None flattens a first. Returns shape a.shape[:axis] + indices.shape + a.shape[axis + 1:].
        Index i < 0 means i + a.shape[axis]; an index outside [-n, n - 1] raises IndexError here when the
        indices are an array, or fails the kernel call (KernelError) when they are a tensor in wasm memory.
        """
        a = self.tensor(a, "a", DTYPES)
        ind = self._indices(indices)
        a, axis = self._axis(a, axis)
        n = a.shape[axis]
        if n == 0 and ind.size:
            raise self.fail(f"cannot take {ind.size} entries from an empty axis {axis} of shape {a.shape}")
        if not isinstance(ind, TensorRef):
            self._check(np.asarray(indices), n, axis)  # the caller's values: int64 ones before narrowing
        outer, inner = math.prod(a.shape[:axis]), math.prod(a.shape[axis + 1 :])
        out_shape = a.shape[:axis] + ind.shape + a.shape[axis + 1 :]
        return Call(
            f"{kernel_prefix(a.dtype)}_take",
            [a.reshape(outer, n, inner), ind.reshape(-1)],
            (outer, ind.size, inner),
            a.dtype,
            result_shape=out_shape,
        )


OPS = [Take()]

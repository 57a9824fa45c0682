"""Index ops: take_along_axis, scatter_elements, gather_nd, scatter_nd (ONNX GatherElements / ScatterElements /
GatherND / ScatterND), one shared kernel template each for gathers and scatters (ops/_index_kernels.py).

Index rules (ONNX's): i < 0 means i + n; anything still outside [0, n) is an error. Indices known on the
host (numpy arrays) are checked here and the error names the op, the index and the bound; indices that
only exist in wasm memory are checked by the kernel, which then fails (KernelError) before touching memory.
Scatters copy `data` to the output and apply the updates in index order; `reduction` combines an update with
the value already there (none = replace, add, mul, max, min).

dtypes: float32 and int32 data, int32 indices (int64 numpy arrays are narrowed when their values fit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .spec import INT, TENSOR, Call, Kernel, Op, TensorRef, prefix
from .strided import contiguous_strides

DTYPES = ("float32", "int32")
RANK = 6  # = _index_kernels.RANK
REDUCTIONS = ("none", "add", "mul", "max", "min")
#: max / min as onnxruntime applies them (std::max / std::min: `a > b ? a : b` on the value already there and
#: the update): a NaN update wins, a NaN already there loses to the update, and -0 / 0 ties take the update.
#: numpy's maximum would spread every NaN; the kernels (T.max / T.min) compare the same way as onnxruntime.
_NP_REDUCE = {
    "add": np.add,
    "mul": np.multiply,
    "max": lambda a, b: np.where(a > b, a, b),
    "min": lambda a, b: np.where(a < b, a, b),
}


def index_array(op: Op, indices, what: str = "indices") -> np.ndarray | TensorRef:
    """int32 indices; an int64 numpy array is narrowed (values beyond int32 are out of range anyway)."""
    if isinstance(indices, np.ndarray | np.generic | list | tuple | int):
        arr = np.asarray(indices)
        if arr.dtype.kind in "iu":
            arr = np.clip(arr, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
        out = op.tensor(arr, what, ("int32",))
        return out.reshape(arr.shape)
    return op.tensor(indices, what, ("int32",))


def check_indices(op: Op, indices, bound: int | Sequence[int], what: str = "index") -> None:
    """Host-known indices must lie in [-bound, bound) (per last-axis entry when `bound` is a sequence)."""
    if isinstance(indices, TensorRef):
        return
    ind = np.asarray(indices, np.int64)
    bounds = np.asarray(bound, np.int64)
    bad = (ind < -bounds) | (ind >= bounds)
    if bad.any():
        pos = tuple(int(p) for p in np.argwhere(bad)[0])
        b = int(bounds if bounds.ndim == 0 else bounds[pos[-1]])
        raise IndexError(f"{op.name}: {what} {int(ind[pos])} at {pos} is out of range for a dim of size {b}")


def wrap(indices: np.ndarray, bound) -> np.ndarray:
    ind = np.asarray(indices, np.int64)
    return np.where(ind < 0, ind + np.asarray(bound, np.int64), ind)


def _pad6(shape: Sequence[int]) -> tuple[int, ...]:
    return (1,) * (RANK - len(shape)) + tuple(shape)


class _Elements(Op):
    """Shared checks and views of take_along_axis / scatter_elements."""

    def _views(self, data, ind, axis: int):
        if ind.ndim != data.ndim:
            raise self.fail(f"indices of rank {ind.ndim} do not match data of rank {data.ndim}")
        if data.ndim > RANK:
            raise self.fail(f"rank {data.ndim} is above the supported {RANK}")
        axis = self.axis(int(axis), data.ndim)
        for d, (m, n) in enumerate(zip(ind.shape, data.shape, strict=True)):
            if d != axis and m > n:
                raise self.fail(f"indices shape {ind.shape} exceeds data shape {data.shape} on axis {d}")
        n = data.shape[axis]
        if n == 0 and ind.size:
            raise self.fail(f"cannot index the empty axis {axis} of shape {data.shape}")
        check_indices(self, ind, n)
        strides = list(contiguous_strides(data.shape))
        sa, strides[axis] = strides[axis], 0
        return axis, (n, sa, *_pad6(strides)), ind.reshape(_pad6(ind.shape))


class TakeAlongAxis(_Elements):
    """take_along_axis(arr, indices, axis): numpy.take_along_axis / ONNX GatherElements."""

    name = "take_along_axis"

    def kernels(self) -> list[Kernel]:
        def build(dt: str):
            from . import _index_kernels

            return _index_kernels.gather_elements(dt)

        return [
            Kernel(f"{prefix(np.dtype(dt))}_take_along_axis", lambda dt=dt: build(dt), (TENSOR,) * 3 + (INT,) * 8)
            for dt in DTYPES
        ]

    def reference(self, arr, indices, axis: int = 0) -> np.ndarray:
        arr, ind = np.asarray(arr), np.asarray(indices)
        axis = self.axis(int(axis), arr.ndim)
        check_indices(self, ind, arr.shape[axis])
        ind = wrap(ind, arr.shape[axis])
        sub = arr[tuple(slice(0, m) if d != axis else slice(None) for d, m in enumerate(ind.shape))]
        return np.take_along_axis(sub, ind, axis=axis)

    def plan(self, arr: np.ndarray, indices: np.ndarray, axis: int = 0) -> Call:
        """out[i] = arr[i with its `axis` coordinate replaced by indices[i]]; out has the shape of indices.

        arr: float32 / int32, rank <= 6; indices: int32 of the same rank, no larger than arr off the axis
        (ONNX GatherElements). Negative indices count from the end; out-of-range ones raise (IndexError
        for host arrays, KernelError from inside wasm)."""
        arr = self.tensor(arr, "arr", DTYPES)
        ind = index_array(self, indices)
        _, scalars, ind6 = self._views(arr, ind, axis)
        return Call(
            f"{prefix(arr.dtype)}_take_along_axis", [arr.reshape(-1), ind6], ind6.shape, arr.dtype, scalars, ind.shape
        )


class ScatterElements(_Elements):
    """scatter_elements(data, indices, updates, axis, reduction): ONNX ScatterElements as a new array."""

    name = "scatter_elements"

    def kernels(self) -> list[Kernel]:
        def build(dt: str, red: str):
            from . import _index_kernels

            return _index_kernels.scatter_elements(dt, red)

        return [
            Kernel(
                f"{prefix(np.dtype(dt))}_scatter_elements_{red}",
                lambda dt=dt, red=red: build(dt, red),
                (TENSOR,) * 4 + (INT,) * 8,
            )
            for dt in DTYPES
            for red in REDUCTIONS
        ]

    def reference(self, data, indices, updates, axis: int = 0, reduction: str = "none") -> np.ndarray:
        data, ind, upd = np.asarray(data), np.asarray(indices), np.asarray(updates)
        axis = self.axis(int(axis), data.ndim)
        check_indices(self, ind, data.shape[axis])
        ind = wrap(ind, data.shape[axis])
        out = data.copy()
        for pos in np.ndindex(*ind.shape):
            at = pos[:axis] + (int(ind[pos]),) + pos[axis + 1 :]
            out[at] = upd[pos] if reduction == "none" else _NP_REDUCE[reduction](out[at], upd[pos])
        return out

    def plan(
        self, data: np.ndarray, indices: np.ndarray, updates: np.ndarray, axis: int = 0, reduction: str = "none"
    ) -> Call:
        """A copy of data with out[i with its `axis` coordinate replaced by indices[i]] = updates[i], applied
        in index order; reduction (none / add / mul / max / min) combines with the value already there.
        updates has the shape of indices; dtypes and index rules as take_along_axis."""
        if reduction not in REDUCTIONS:
            raise self.fail(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        data = self.tensor(data, "data", DTYPES)
        upd = self.tensor(updates, "updates", DTYPES)
        self.same_dtype(data, upd)
        ind = index_array(self, indices)
        if tuple(upd.shape) != tuple(ind.shape):
            raise self.fail(f"updates shape {upd.shape} differs from indices shape {ind.shape}")
        _, scalars, ind6 = self._views(data, ind, axis)
        return Call(
            f"{prefix(data.dtype)}_scatter_elements_{reduction}",
            [data.reshape(-1), ind6, upd.reshape(ind6.shape)],
            (data.size,),
            data.dtype,
            scalars,
            data.shape,
        )


def _nd_tables(op: Op, dims: Sequence[int], inner: int, ind) -> tuple[np.ndarray, np.ndarray]:
    """The per-entry dim sizes and row strides an index tuple is read with (host constants)."""
    if not dims:
        raise op.fail("indices with a last dim of 0 are not supported")
    check_indices(op, ind, dims)
    rows = contiguous_strides(dims)
    if math.prod(dims) * inner >= 2**31:
        raise op.fail(f"data of {math.prod(dims) * inner} elements is beyond the int32 index range")
    return np.asarray(dims, np.int32), np.asarray(rows, np.int32)


class GatherND(Op):
    """gather_nd(data, indices, batch_dims): ONNX GatherND."""

    name = "gather_nd"

    def kernels(self) -> list[Kernel]:
        def build(dt: str):
            from . import _index_kernels

            return _index_kernels.gather_nd(dt)

        return [Kernel(f"{prefix(np.dtype(dt))}_gather_nd", lambda dt=dt: build(dt), (TENSOR,) * 5) for dt in DTYPES]

    def reference(self, data, indices, batch_dims: int = 0) -> np.ndarray:
        data, ind = np.asarray(data), np.asarray(indices)
        b, q = int(batch_dims), ind.shape[-1]
        check_indices(self, ind, data.shape[b : b + q])
        ind = wrap(ind, data.shape[b : b + q])
        batch = math.prod(data.shape[:b])
        flat_d = data.reshape((batch,) + data.shape[b:])
        flat_i = ind.reshape((batch, -1, q))
        out = np.stack([flat_d[k][tuple(flat_i[k].T)] for k in range(batch)])
        return out.reshape(ind.shape[:-1] + data.shape[b + q :])

    def plan(self, data: np.ndarray, indices: np.ndarray, batch_dims: int = 0) -> Call:
        """out[b..., m...] = data[b..., *indices[b..., m..., :]]: each index tuple (the last dim of
        indices, q entries) picks a slice of data after its first batch_dims dims. Returns shape
        indices.shape[:-1] + data.shape[batch_dims + q:]. float32 / int32 data, int32 indices; negative
        entries count from the end, out-of-range ones raise."""
        data = self.tensor(data, "data", DTYPES)
        ind = index_array(self, indices)
        b = int(batch_dims)
        if ind.ndim < 1 or not 0 <= b < min(ind.ndim, data.ndim + 1):
            raise self.fail(f"batch_dims {b} does not fit indices {ind.shape} and data {data.shape}")
        if tuple(ind.shape[:b]) != tuple(data.shape[:b]):
            raise self.fail(f"batch dims of indices {ind.shape} and data {data.shape} differ")
        q = ind.shape[-1]
        if b + q > data.ndim:
            raise self.fail(f"index tuples of {q} entries exceed data rank {data.ndim} after {b} batch dims")
        inner = math.prod(data.shape[b + q :])
        dims, rows = _nd_tables(self, data.shape[b : b + q], inner, ind)
        batch = math.prod(data.shape[:b])
        m = math.prod(ind.shape[b:-1])
        out_shape = tuple(ind.shape[:-1]) + tuple(data.shape[b + q :])
        return Call(
            f"{prefix(data.dtype)}_gather_nd",
            [data.reshape(batch, -1), ind.reshape(batch, m, q), dims, rows],
            (batch, m, inner),
            data.dtype,
            result_shape=out_shape,
        )


class ScatterND(Op):
    """scatter_nd(data, indices, updates, reduction): ONNX ScatterND as a new array."""

    name = "scatter_nd"

    def kernels(self) -> list[Kernel]:
        def build(dt: str, red: str):
            from . import _index_kernels

            return _index_kernels.scatter_nd(dt, red)

        return [
            Kernel(f"{prefix(np.dtype(dt))}_scatter_nd_{red}", lambda dt=dt, red=red: build(dt, red), (TENSOR,) * 6)
            for dt in DTYPES
            for red in REDUCTIONS
        ]

    def reference(self, data, indices, updates, reduction: str = "none") -> np.ndarray:
        data, ind, upd = np.asarray(data), np.asarray(indices), np.asarray(updates)
        q = ind.shape[-1]
        check_indices(self, ind, data.shape[:q])
        ind = wrap(ind, data.shape[:q])
        out = data.copy()
        for pos in np.ndindex(*ind.shape[:-1]):
            at = tuple(int(v) for v in ind[pos])
            out[at] = upd[pos] if reduction == "none" else _NP_REDUCE[reduction](out[at], upd[pos])
        return out

    def plan(self, data: np.ndarray, indices: np.ndarray, updates: np.ndarray, reduction: str = "none") -> Call:
        """A copy of data where, for each index tuple indices[m..., :] (q entries), the slice
        data[*tuple] becomes updates[m...] (reduction none / add / mul / max / min combines it with the
        value already there), in index order. updates: indices.shape[:-1] + data.shape[q:]."""
        if reduction not in REDUCTIONS:
            raise self.fail(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        data = self.tensor(data, "data", DTYPES)
        upd = self.tensor(updates, "updates", DTYPES)
        self.same_dtype(data, upd)
        ind = index_array(self, indices)
        q = ind.shape[-1] if ind.ndim else 0
        if ind.ndim < 1 or q > data.ndim:
            raise self.fail(f"indices {ind.shape} do not fit data {data.shape}")
        want = tuple(ind.shape[:-1]) + tuple(data.shape[q:])
        if tuple(upd.shape) != want:
            raise self.fail(f"updates shape {upd.shape} should be {want}")
        inner = math.prod(data.shape[q:])
        dims, rows = _nd_tables(self, data.shape[:q], inner, ind)
        m = math.prod(ind.shape[:-1])
        return Call(
            f"{prefix(data.dtype)}_scatter_nd_{reduction}",
            [data.reshape(-1), ind.reshape(1, m, q), upd.reshape(m, inner), dims, rows],
            (data.size,),
            data.dtype,
            result_shape=data.shape,
        )


OPS = [TakeAlongAxis(), ScatterElements(), GatherND(), ScatterND()]

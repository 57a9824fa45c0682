"""Layout ops: transpose, reshape, flatten, concatenate (float32 and int32; data moves, values don't change).

Every op returns a fresh array made by a wasm kernel, never a view. The host collapses shapes so a few
low-rank kernels (ops/_layout_kernels.py) serve every case:

- reshape / flatten: `<dt>_copy`, a flat copy; the new shape is only metadata.
- transpose: size-1 dims are dropped and output dims that stay adjacent and in order in the input are
  merged, leaving at most 6 dims (padded to 6 with size-1 dims). If the innermost output dim is contiguous
  in x, `<dt>_transpose` copies whole rows (`memory.copy`) at int-scalar input strides. Otherwise (e.g. a
  matrix transpose) `<dt>_transpose_tiled`, a strided copy with every extent and stride a scalar, walks
  the dim contiguous in x and the one contiguous in y in 16 x 16 tiles of 4 x 4 SIMD register transposes.
  Rows shorter than SHORT_ROW elements go to the tiled kernel too: its scalar loop beats one
  `memory.copy` per tiny row.
- concatenate: every input is viewed as (outer, w_i) with outer = prod(shape[:axis]) and w_i = the
  product of its dims from `axis` on; the output (outer, sum w_i) is, row by row, the inputs' rows side
  by side. `<dt>_concat<K>` takes K inputs (K in 2, 4, 8, 32; unused slots get (outer, 0) arrays) and
  writes each element once. A chain call writes a new buffer and only the previous output flows on, so
  more than 32 inputs are folded as PREV + up to 31 more per extra call: up to 63 inputs (DenseNet-201's
  largest concat has 49) every element is copied at most twice; each further 31 inputs add one more pass
  over the part already written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .spec import INT, PREV, TENSOR, Call, Kernel, Op, prefix

DTYPES = ("float32", "int32")
RANK = 6  # = _layout_kernels.RANK (that module imports TVM, so the constant is repeated here)
SHORT_ROW = 9  # transpose rows shorter than this are gathered by the tiled kernel, not copied one by one
ARITIES = (2, 4, 8, 32)  # = _layout_kernels.CONCAT_ARITIES


def _kernel(name: str, builder: str, params: tuple[str, ...], *args) -> list[Kernel]:
    """One Kernel per dtype whose build calls _layout_kernels.<builder>(dtype, *args) lazily."""

    def build(dtype: str):
        from . import _layout_kernels

        return getattr(_layout_kernels, builder)(dtype, *args)

    return [Kernel(f"{prefix(np.dtype(dt))}_{name}", lambda dt=dt: build(dt), params) for dt in DTYPES]


def _array(op: Op, x, what: str) -> np.ndarray:
    """op.tensor, keeping 0-d arrays 0-d (np.ascontiguousarray in Op.tensor makes them 1-d)."""
    return op.tensor(x, what, DTYPES).reshape(np.shape(x))


def _copy_call(x: np.ndarray, shape: tuple[int, ...]) -> Call:
    return Call(f"{prefix(x.dtype)}_copy", [x.reshape(-1)], (x.size,), x.dtype, result_shape=shape)


class Transpose(Op):
    """transpose(x, axes): numpy.transpose, as a copy."""

    name = "transpose"

    def kernels(self) -> list[Kernel]:
        rows = _kernel("transpose", "transpose_rows", (TENSOR, TENSOR) + (INT,) * (RANK - 1))
        return rows + _kernel("transpose_tiled", "transpose_tiled", (TENSOR, TENSOR) + (INT,) * (3 * RANK - 1))

    def reference(self, x, axes=None) -> np.ndarray:
        return np.transpose(np.asarray(x), axes).copy()

    def plan(self, x: np.ndarray, axes: Sequence[int] | None = None) -> Call:
        """Permute the dims of x (numpy.transpose): output dim k is input dim axes[k].

        x: any shape, float32 or int32. axes: a permutation of range(x.ndim), negative values allowed;
        None reverses the dims. Returns a new contiguous array of shape [x.shape[a] for a in axes].
        At most 6 dims may remain after size-1 dims are dropped and dims that stay adjacent and in order
        are merged (always true for rank <= 6).
        """
        x = _array(self, x, "x")
        perm = self._perm(axes, x.ndim)
        out_shape = tuple(x.shape[a] for a in perm)
        dims = _merged_dims(x.shape, perm)
        if len(dims) > RANK:
            raise self.fail(
                f"permutation {perm} of shape {x.shape} leaves {len(dims)} unmergeable dims; "
                f"at most {RANK} are supported"
            )
        p = prefix(x.dtype)
        if dims[-1][1] == 1 and (dims[-1][0] >= SHORT_ROW or len(dims) == 1):  # contiguous rows: copies
            dims = [(1, 0)] * (RANK - len(dims)) + dims
            strides = tuple(s for _, s in dims[:-1])
            return Call(f"{p}_transpose", [x.reshape(-1)], tuple(n for n, _ in dims), x.dtype, strides, out_shape)
        return Call(f"{p}_transpose_tiled", [x.reshape(-1)], (x.size,), x.dtype, _tiled_scalars(dims), out_shape)

    def _perm(self, axes: Sequence[int] | None, ndim: int) -> tuple[int, ...]:
        if axes is None:
            return tuple(range(ndim - 1, -1, -1))
        if isinstance(axes, int | np.integer) or not all(isinstance(a, int | np.integer) for a in axes):
            raise self.fail(f"axes must be a sequence of ints, got {axes!r}")
        if len(axes) != ndim:
            raise self.fail(f"axes {tuple(axes)} don't match an array of {ndim} dimensions")
        perm = tuple(self.axis(int(a), ndim) for a in axes)
        if len(set(perm)) != ndim:
            raise self.fail(f"repeated axis in axes {tuple(axes)}")
        return perm


def _merged_dims(shape: tuple[int, ...], perm: tuple[int, ...]) -> list[tuple[int, int]]:
    """(extent, x stride) per output dim, in output order, size-1 dims dropped and runs merged.

    Output dims k, k+1 merge when stride_k == extent_{k+1} * stride_{k+1}: they walk x like one dim.
    An empty or single-element x becomes one dim, [(size, 1)].
    """
    size = math.prod(shape)
    if size <= 1:
        return [(size, 1)]
    strides = [math.prod(shape[a + 1 :]) for a in range(len(shape))]
    dims: list[tuple[int, int]] = []
    for n, s in ((shape[a], strides[a]) for a in perm if shape[a] != 1):
        if dims and dims[-1][1] == n * s:
            dims[-1] = (dims[-1][0] * n, s)
        else:
            dims.append((n, s))
    return dims


def _tiled_scalars(dims: list[tuple[int, int]]) -> tuple[int, ...]:
    """Scalars of `transpose_tiled`: loops = (other dims in output order, x's contiguous dim, y's last).

    Rows too short to copy one by one (x's contiguous dim is y's last) take y's second-last dim as loop 4.
    ABI order: extents e0..e5, x strides s0..s5, y strides o0..o4 (o5 = 1).
    """
    y_strides = [math.prod(n for n, _ in dims[k + 1 :]) for k in range(len(dims))]
    last = len(dims) - 1
    p = next(k for k, (_, s) in enumerate(dims) if s == 1)
    p = last - 1 if p == last else p
    loops = [(1, 0, 0)] * (RANK - len(dims)) + [(*dims[k], y_strides[k]) for k in range(last) if k != p]
    loops += [(*dims[p], y_strides[p]), (*dims[last], 1)]
    return tuple(e for e, _, _ in loops) + tuple(s for _, s, _ in loops) + tuple(o for _, _, o in loops[:-1])


class Reshape(Op):
    """reshape(x, shape): numpy.reshape, as a copy."""

    name = "reshape"

    def kernels(self) -> list[Kernel]:
        return _kernel("copy", "copy", (TENSOR, TENSOR))

    def reference(self, x, shape) -> np.ndarray:
        return np.reshape(np.asarray(x), shape).copy()

    def plan(self, x: np.ndarray, shape: int | Sequence[int]) -> Call:
        """Give x a new shape with the same elements in the same (C) order (numpy.reshape).

        x: any shape, float32 or int32. shape: an int or a sequence of ints whose product is x.size;
        one entry may be -1 and is then inferred. Returns a new array (never a view).
        """
        x = _array(self, x, "x")
        return _copy_call(x, self._shape(shape, x.size))

    def _shape(self, shape: int | Sequence[int], size: int) -> tuple[int, ...]:
        vals = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
        if not all(isinstance(v, int | np.integer) for v in vals):
            raise self.fail(f"shape must be an int or a sequence of ints, got {shape!r}")
        vals = tuple(int(v) for v in vals)
        if vals.count(-1) > 1:
            raise self.fail("can only specify one unknown dimension")
        if any(v < -1 for v in vals):
            raise self.fail(f"negative dimensions not allowed, got shape {vals}")
        known = math.prod(v for v in vals if v != -1)
        if -1 in vals and known and size % known == 0:
            vals = tuple(size // known if v == -1 else v for v in vals)
        if -1 in vals or math.prod(vals) != size:
            raise self.fail(f"cannot reshape array of size {size} into shape {vals}")
        return vals


class Flatten(Op):
    """flatten(x, start_dim, end_dim): torch.flatten, as a copy (reuses reshape's copy kernel)."""

    name = "flatten"
    uses = ("reshape",)

    def kernels(self) -> list[Kernel]:
        return []  # runs `<dt>_copy`, which the reshape op owns (a kernel name must be unique)

    def reference(self, x, start_dim: int = 1, end_dim: int = -1) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 0:
            return x.reshape(1).copy()
        s, e = start_dim % x.ndim, end_dim % x.ndim
        return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1 :]).copy()

    def plan(self, x: np.ndarray, start_dim: int = 1, end_dim: int = -1) -> Call:
        """Merge dims start_dim..end_dim (inclusive) of x into one (torch.flatten semantics).

        x: any shape, float32 or int32; a 0-d x becomes shape (1,). start_dim defaults to 1, as in
        torch.nn.Flatten (keep the batch dim); negative dims count from the end; start_dim must not come
        after end_dim. Returns a new array.
        """
        x = _array(self, x, "x")
        if x.ndim == 0:
            for d in (start_dim, end_dim):
                self.axis(d, 1)
            return _copy_call(x, (1,))
        s, e = self.axis(start_dim, x.ndim), self.axis(end_dim, x.ndim)
        if s > e:
            raise self.fail(f"start_dim ({start_dim}) cannot come after end_dim ({end_dim}) for rank {x.ndim}")
        return _copy_call(x, x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :])


class Concatenate(Op):
    """concatenate(arrays, axis): numpy.concatenate."""

    name = "concatenate"

    def kernels(self) -> list[Kernel]:
        return [k for a in ARITIES for k in _kernel(f"concat{a}", "concat", (TENSOR,) * (a + 1), a)]

    def reference(self, arrays, axis: int | None = 0) -> np.ndarray:
        return np.concatenate([np.asarray(a) for a in arrays], axis=axis)

    def plan(self, arrays: Sequence[np.ndarray], axis: int | None = 0) -> Call | list[Call]:
        """Join arrays along an existing axis (numpy.concatenate).

        arrays: a sequence of 1 or more arrays, all float32 or all int32, of equal rank >= 1 and equal
        shapes except along axis. axis: may be negative; None flattens every array first.
        Returns a new array whose size along axis is the sum of the inputs'.
        """
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence) or isinstance(arrays, str):
            raise TypeError(f"{self.name}: arrays must be a sequence of arrays, got {type(arrays).__name__}")
        if not arrays:
            raise self.fail("need at least one array to concatenate")
        xs = [_array(self, a, f"arrays[{i}]") for i, a in enumerate(arrays)]
        dtype = self.same_dtype(*xs)
        if axis is None:
            xs, axis = [a.reshape(-1) for a in xs], 0
        elif not isinstance(axis, int | np.integer):
            raise self.fail(f"axis must be an int or None, got {axis!r}")
        shape = self._check_shapes(xs)
        axis = self.axis(int(axis), len(shape))
        for i, a in enumerate(xs[1:], start=1):
            for d in range(len(shape)):
                if d != axis and a.shape[d] != shape[d]:
                    raise self.fail(
                        f"all dimensions except the concatenation axis must match, but along "
                        f"dimension {d} array 0 has size {shape[d]} and array {i} has size {a.shape[d]}"
                    )
        out_shape = shape[:axis] + (sum(a.shape[axis] for a in xs),) + shape[axis + 1 :]
        outer = math.prod(shape[:axis])
        views = [a.reshape(outer, -1) if outer else a.reshape(0, math.prod(a.shape[axis:])) for a in xs]
        return _concat_chain([v for v in views if v.shape[1]], outer, dtype, out_shape)

    def _check_shapes(self, xs: list[np.ndarray]) -> tuple[int, ...]:
        if any(a.ndim == 0 for a in xs):
            raise self.fail("zero-dimensional arrays cannot be concatenated")
        for i, a in enumerate(xs[1:], start=1):
            if a.ndim != xs[0].ndim:
                raise self.fail(
                    f"all input arrays must have the same rank, but array 0 has rank {xs[0].ndim} "
                    f"and array {i} has rank {a.ndim}"
                )
        return xs[0].shape


def _concat_chain(views: list[np.ndarray], outer: int, dtype: np.dtype, out_shape: tuple[int, ...]) -> list[Call]:
    """Calls of `concat<K>` joining (outer, w_i) views along columns; see the module docstring."""
    p, empty = prefix(dtype), np.empty((outer, 0), dtype)
    calls: list[Call] = []
    width, rest = 0, list(views)
    while not calls or rest:
        take = ARITIES[-1] - (1 if calls else 0)
        chunk, rest = rest[:take], rest[take:]
        ins = ([PREV] if calls else []) + chunk
        arity = next(a for a in ARITIES if a >= len(ins))
        width += sum(v.shape[1] for v in chunk)
        calls.append(Call(f"{p}_concat{arity}", ins + [empty] * (arity - len(ins)), (outer, width), dtype))
    calls[-1].result_shape = out_shape
    return calls


OPS = [Transpose(), Reshape(), Flatten(), Concatenate()]

"""Reductions with numpy semantics: sum, mean, max, min, prod over `axis` (None, an int or a tuple) with `keepdims`.

The host drops size-1 dims and merges adjacent dims of the same kind (kept / reduced) into alternating
groups, then right-aligns them into one of two fixed views, so one kernel serves every shape and axis set:

* "cols" (the last group is kept): x viewed as (k0, r0, k1, r1, k2, r2, k3), out (k0, k1, k2, k3); the
  contiguous k3 is vectorised and each 16-wide accumulator streams the reduced rows through.
* "rows" (the last group is reduced): x viewed as (k0, r0, k1, r1, k2, r2), out (k0, k1, k2); the contiguous
  r2 is reduced in 16 lanes plus a scalar tail, then the lanes are folded.

Reduced axes need not be adjacent (up to three separate groups, e.g. BatchNorm statistics over (0, 2, 3)
of NCHW); no transpose is needed. dtypes: sum, prod, max and min take float32 and int32, mean float32. Unlike
numpy (int64 on Linux), the sum / product of int32 is int32 and wraps on overflow, like np.sum(x, dtype=np.int32).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from .spec import FLOAT, TENSOR, Call, Kernel, Op, prefix

COLS_VIEW = "krkrkrk"  # kept / reduced slots of the cols view, outer first
ROWS_VIEW = "krkrkr"


def reduce_groups(shape: tuple[int, ...], axes: Sequence[int]) -> list[tuple[int, bool]]:
    """(size, reduced) for the alternating runs of kept / reduced dims, size-1 dims dropped."""
    groups: list[tuple[int, bool]] = []
    for d, n in enumerate(shape):
        if n == 1:
            continue
        red = d in axes
        if groups and groups[-1][1] == red:
            groups[-1] = (groups[-1][0] * n, red)
        else:
            groups.append((n, red))
    return groups


def view_shape(groups: list[tuple[int, bool]]) -> tuple[str, tuple[int, ...]] | None:
    """The kernel variant and its input view for these groups, or None if they do not fit."""
    variant, slots = ("rows", ROWS_VIEW) if groups and groups[-1][1] else ("cols", COLS_VIEW)
    if len(groups) > len(slots):
        return None
    view = [1] * len(slots)
    for pos, (n, _) in zip(range(len(slots) - len(groups), len(slots)), groups, strict=True):
        view[pos] = n  # alternation makes a right-aligned group land on a slot of its own kind
    return variant, tuple(view)


class Reduce(Op):
    """One reduction (sum / mean / max / min / prod) in its rows and cols kernels."""

    uses = ("broadcast_to",)  # an empty reduction: its identity, broadcast

    def __init__(self, name: str, dtypes: tuple[str, ...], doc: str):
        self.name = name
        self.dtypes = dtypes
        self.__doc__ = (
            f"{name}(x, axis=None, keepdims=False): {doc} over `axis` (None = all axes, an int or a tuple of "
            "ints, negative counting from the end), numpy semantics; keepdims leaves the reduced axes as size 1. "
            f"dtype {' or '.join(dtypes)}."
        )

    def kernels(self) -> list[Kernel]:
        extra = (FLOAT,) if self.name == "mean" else ()
        return [
            Kernel(
                f"{prefix(np.dtype(dt))}_{self.name}_{v}",
                lambda dt=dt, v=v: self._build(dt, v),
                (TENSOR, TENSOR) + extra,
            )
            for dt in self.dtypes
            for v in ("rows", "cols")
        ]

    def _reducer(self, dtype: str):
        from ._simd import Reducer

        return {"max": Reducer.max, "min": Reducer.min, "prod": Reducer.prod}.get(self.name, Reducer.sum)(dtype)

    def _build(self, dtype: str, variant: str):
        from tvm import s_tir, te

        from ._simd import row_reduce, schedule_col_reduce, schedule_row_reduce, vector_loop
        from .simd_schedules import dims, prim_func

        view = COLS_VIEW if variant == "cols" else ROWS_VIEW
        sizes = dims(*(f"{c}{i // 2}" for i, c in enumerate(view)))
        kept, red_sizes = sizes[0::2], sizes[1::2]
        x = te.placeholder(sizes, dtype, name="x")
        red = self._reducer(dtype)
        mean = self.name == "mean"
        count = te.var("count", "float32")
        acc_name = "acc" if mean else "out"

        def interleave(k, r):
            return [v for pair in zip(k, r, strict=False) for v in pair] + list(k[len(r) :])

        if variant == "cols":
            axes = [te.reduce_axis((0, n), f"r{i}") for i, n in enumerate(red_sizes)]
            acc = te.compute(kept, lambda *k: red.reduce(x[tuple(interleave(k, axes))], axis=axes), name=acc_name)
        else:
            acc, stages = row_reduce(
                kept, red_sizes[-1], lambda k, e, j: x[tuple(interleave(k, [*e, j]))], red, acc_name, red_sizes[:-1]
            )
        out = te.compute(kept, lambda *k: acc(*k) / count, name="out") if mean else acc
        sch = s_tir.Schedule(prim_func([x, out, count] if mean else [x, out]))
        last = sch.get_loops(sch.get_sblock("out"))[-1]
        if variant == "cols":
            schedule_col_reduce(sch, acc_name)
            if mean:
                vector_loop(sch, last)
        else:
            schedule_row_reduce(sch, stages, last, place_total=mean)
        return sch.mod["main"]

    def _axes(self, axis, ndim: int) -> tuple[int, ...]:
        if axis is None:
            return tuple(range(ndim))
        items = (axis,) if isinstance(axis, int | np.integer) else axis
        if not isinstance(items, tuple | list) or not all(
            isinstance(a, int | np.integer) and not isinstance(a, bool) for a in items
        ):
            raise TypeError(f"{self.name}: axis must be None, an int or a tuple of ints, got {axis!r}")
        axes = tuple(self.axis(int(a), ndim) for a in items)
        if len(set(axes)) != len(axes):
            raise self.fail(f"duplicate value in 'axis': {axis!r}")
        return axes

    def reference(self, x, axis=None, keepdims=False) -> np.ndarray:
        x = np.asarray(x)
        axis = tuple(axis) if isinstance(axis, list) else axis
        if self.name in ("max", "min"):
            return getattr(np, self.name)(x, axis=axis, keepdims=keepdims)
        if self.name in ("sum", "prod") and x.dtype == np.int32:
            return getattr(np, self.name)(x, axis=axis, keepdims=keepdims, dtype=np.int32)  # wraps, as the kernel
        fn = {"sum": np.sum, "prod": np.prod, "mean": np.mean}[self.name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of an empty slice is nan, with a warning
            return np.asarray(fn(x.astype(np.float64), axis=axis, keepdims=keepdims)).astype(np.float32)

    def plan(self, x: np.ndarray, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Call:
        x = self.tensor(x, "x", self.dtypes)
        axes = self._axes(axis, x.ndim)
        count = math.prod(x.shape[a] for a in axes)
        if self.name in ("max", "min") and count == 0 and axes:
            which = "maximum" if self.name == "max" else "minimum"
            raise self.fail(f"zero-size array to reduction operation {which} which has no identity")
        if keepdims:
            result = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
        else:
            result = tuple(n for d, n in enumerate(x.shape) if d not in axes)
        if count == 0 and math.prod(result):
            # an empty reduction is its identity everywhere (nan for a mean): a broadcast of that value, not
            # the row kernel, whose vector loop gave 0 for an empty product
            from . import all_ops

            identity = {"sum": 0, "prod": 1, "mean": np.nan}[self.name]
            return all_ops()["broadcast_to"].plan(np.full((), identity, x.dtype), result)
        found = view_shape(reduce_groups(x.shape, axes))
        if found is None:
            raise self.fail(
                f"axis {axis!r} splits shape {x.shape} into more than 3 separate reduced groups; reduce in two calls"
            )
        variant, view = found
        out = view[0::2]
        scalars = (float(count),) if self.name == "mean" else ()
        return Call(f"{prefix(x.dtype)}_{self.name}_{variant}", [x.reshape(view)], out, x.dtype, scalars, result)


OPS = [
    Reduce("sum", ("float32", "int32"), "sum of the elements (int32 sums stay int32 and wrap)"),
    Reduce("mean", ("float32",), "arithmetic mean (nan for an empty reduction, as numpy)"),
    Reduce("max", ("float32", "int32"), "largest element (NaN if any is NaN); an empty reduction is a ValueError"),
    Reduce("min", ("float32", "int32"), "smallest element (NaN if any is NaN); an empty reduction is a ValueError"),
    Reduce("prod", ("float32", "int32"), "product of the elements (int32 products stay int32 and wrap)"),
]

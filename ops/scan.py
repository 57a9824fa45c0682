"""Ops along one axis: cumsum, cumprod (ONNX CumSum / CumProd), argmax, argmin (ONNX ArgMax / ArgMin) and
topk_indices (the index half of ONNX TopK; the values are a take_along_axis of them).

The host views x as (outer, n, inner) around the axis, so one kernel per op and dtype serves every shape
and axis (ops/_index_kernels.py). Indices come out as int32 (ONNX sessions cast them back to int64).
"""

from __future__ import annotations

import math

import numpy as np

from .spec import INT, TENSOR, Call, Kernel, Op, prefix

DTYPES = ("float32", "int32")


def middle_view(op: Op, x, axis: int | None) -> tuple[object, int, tuple[int, int, int]]:
    """x (flattened when axis is None), the normalised axis and the (outer, n, inner) view around it."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    if not isinstance(axis, int | np.integer) or isinstance(axis, bool):
        raise op.fail(f"axis must be an int or None, got {axis!r}")
    axis = op.axis(int(axis), max(x.ndim, 1))
    if x.ndim == 0:
        x = x.reshape(1)
    return x, axis, (math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :]))


class Cumulative(Op):
    """cumsum / cumprod with ONNX's exclusive and reverse flags."""

    def __init__(self, name: str):
        self.name = name

    def kernels(self) -> list[Kernel]:
        def build(dt: str):
            from . import _index_kernels

            return _index_kernels.cumulative(dt, self.name[3:])

        return [
            Kernel(f"{prefix(np.dtype(dt))}_{self.name}", lambda dt=dt: build(dt), (TENSOR, TENSOR, INT, INT))
            for dt in DTYPES
        ]

    def reference(self, a, axis: int | None = None, exclusive: bool = False, reverse: bool = False) -> np.ndarray:
        a = np.asarray(a)
        a, axis, _ = middle_view(self, a, axis)
        fn = np.cumsum if self.name == "cumsum" else np.cumprod
        x = np.flip(a, axis) if reverse else a
        y = fn(x, axis=axis, dtype=a.dtype)
        if exclusive and x.shape[axis]:  # an empty axis has no first element to leave out
            one = np.zeros_like if self.name == "cumsum" else np.ones_like
            first = one(np.take(y, [0], axis=axis))
            y = np.concatenate([first, np.take(y, np.arange(x.shape[axis] - 1), axis=axis)], axis=axis)
        return np.flip(y, axis) if reverse else y

    def plan(self, a: np.ndarray, axis: int | None = None, exclusive: bool = False, reverse: bool = False) -> Call:
        """Running sum (cumsum) / product (cumprod) along `axis` (None: of the flattened array), numpy's
        result; exclusive leaves each element out of its own total (the first is 0 / 1); reverse runs
        from the end. float32 / int32 (int32 wraps)."""
        a = self.tensor(a, "a", DTYPES)
        a, _, view = middle_view(self, a, axis)
        return Call(
            f"{prefix(a.dtype)}_{self.name}",
            [a.reshape(view)],
            view,
            a.dtype,
            (int(bool(exclusive)), int(bool(reverse))),
            a.shape,
        )


class ArgReduce(Op):
    """argmax / argmin with keepdims and ONNX's select_last_index."""

    def __init__(self, name: str):
        self.name = name

    def kernels(self) -> list[Kernel]:
        def build(dt: str):
            from . import _index_kernels

            return _index_kernels.arg_reduce(dt, self.name[3:])

        return [
            Kernel(f"{prefix(np.dtype(dt))}_{self.name}", lambda dt=dt: build(dt), (TENSOR, TENSOR, INT))
            for dt in DTYPES
        ]

    def reference(self, a, axis: int | None = None, keepdims: bool = False, select_last_index: bool = False):
        a = np.asarray(a)
        flat, ax, _ = middle_view(self, a, axis)
        fn = np.argmax if self.name == "argmax" else np.argmin
        if select_last_index:
            n = flat.shape[ax]
            out = n - 1 - fn(np.flip(flat, ax), axis=ax, keepdims=keepdims)
        else:
            out = fn(flat, axis=ax, keepdims=keepdims)
        if keepdims and axis is None:
            out = out.reshape((1,) * a.ndim)
        return np.asarray(out, np.int32)

    def plan(
        self, a: np.ndarray, axis: int | None = None, keepdims: bool = False, select_last_index: bool = False
    ) -> Call:
        """Index (int32) of the largest (argmax) / smallest (argmin) entry along `axis` (None: of the
        flattened array), the first one on ties (select_last_index: the last one). float32 / int32."""
        a = self.tensor(a, "a", DTYPES)
        shape = a.shape
        flat, ax, view = middle_view(self, a, axis)
        if view[1] == 0:
            raise self.fail(f"attempt to get {self.name} of an empty sequence")
        if axis is None:
            result = (1,) * len(shape) if keepdims else ()
        else:
            result = tuple(1 if d == ax else n for d, n in enumerate(flat.shape) if keepdims or d != ax)
        out, last = (view[0], 1, view[2]), (int(bool(select_last_index)),)
        return Call(f"{prefix(a.dtype)}_{self.name}", [flat.reshape(view)], out, np.int32, last, result)


class TopKIndices(Op):
    """topk_indices(x, k, axis, largest): the k best indices along axis, best first, ties by lower index."""

    name = "topk_indices"

    def kernels(self) -> list[Kernel]:
        def build(dt: str):
            from . import _index_kernels

            return _index_kernels.topk_indices(dt)

        return [
            Kernel(f"{prefix(np.dtype(dt))}_topk_indices", lambda dt=dt: build(dt), (TENSOR, TENSOR, INT))
            for dt in DTYPES
        ]

    def reference(self, x, k: int, axis: int = -1, largest: bool = True) -> np.ndarray:
        x = np.asarray(x)
        axis = self.axis(int(axis), x.ndim)
        if x.dtype.kind != "f":
            order = np.argsort(-x.astype(np.int64) if largest else x, axis=axis, kind="stable")
        else:  # onnxruntime's order: NaN above +inf (first when largest, else last), NaNs and -0 / 0 tie
            nan = np.isnan(x)
            order = np.argsort(np.where(nan, 0, -x if largest else x), axis=axis, kind="stable")
            last = np.take_along_axis(~nan if largest else nan, order, axis)
            order = np.take_along_axis(order, np.argsort(last, axis=axis, kind="stable"), axis)
        return np.asarray(np.take(order, np.arange(int(k)), axis=axis), np.int32)

    def plan(self, x: np.ndarray, k: int, axis: int = -1, largest: bool = True) -> Call:
        """int32 indices of the k largest (largest=False: smallest) entries along `axis`, best first; equal
        values keep their index order, NaN ranks above +inf (onnxruntime's TopK). Gather the values with
        take_along_axis. Costs O(k * n) per row."""
        x = self.tensor(x, "x", DTYPES)
        x, ax, (outer, n, inner) = middle_view(self, x, axis)
        k = int(k)
        if not 0 <= k <= n:
            raise self.fail(f"k = {k} is out of range for axis {ax} of size {n}")
        result = tuple(k if d == ax else s for d, s in enumerate(x.shape))
        return Call(
            f"{prefix(x.dtype)}_topk_indices",
            [x.reshape(outer, n, inner)],
            (outer, k, inner),
            np.int32,
            (int(bool(largest)),),
            result,
        )


OPS = [Cumulative("cumsum"), Cumulative("cumprod"), ArgReduce("argmax"), ArgReduce("argmin"), TopKIndices()]

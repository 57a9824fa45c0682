"""Elementwise binary ops with numpy broadcasting: add, subtract, multiply, divide, maximum, minimum, power.

The host folds the broadcast into at most RANK dims (size-1 output dims drop, adjacent dims with the same
broadcast pattern merge) and passes both inputs flat, with one element stride per outer dim (0 where that
input is broadcast). The kernel writes a fixed-rank output. Three kernels per op and dtype differ only in
the innermost dim: both inputs run along it ("vv"), x2 is constant along it ("vs") or x1 is ("sv"), so
the inner loop is always contiguous v128 loads or a broadcast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import INT, TENSOR, Call, Kernel, Op
from .strided import kernel_prefix as prefix  # spec.prefix plus bool (logical_and, ...)

RANK = 5  # output rank of every kernel; 4 outer dims with strides + the vectorised inner dim
VARIANTS = ("vv", "vs", "sv")  # which input runs along the inner dim: v = contiguous, s = broadcast


def _select_max(a, b):
    import tvm

    from . import _fastmath

    if a.dtype == "int32":
        return tvm.te.max(a, b)
    return tvm.tirx.Select(tvm.tirx.any(a > b, _fastmath.isnan(a)), a, b)  # NaN in either operand wins, as numpy


def _select_min(a, b):
    import tvm

    from . import _fastmath

    if a.dtype == "int32":
        return tvm.te.min(a, b)
    return tvm.tirx.Select(tvm.tirx.any(a < b, _fastmath.isnan(a)), a, b)


def _power(a, b):
    from . import _fastmath

    return _fastmath.power(a, b)


@dataclass(frozen=True)
class _Row:
    name: str
    te_expr: Callable  # (a: PrimExpr, b: PrimExpr) -> PrimExpr
    reference: Callable  # numpy ufunc
    dtypes: tuple[str, ...]
    doc: str
    lanes: int = 16  # vector width of the inner loop; one v128 for long expressions (fewer spills)


BOTH = ("float32", "int32")
ROWS = [
    _Row("add", lambda a, b: a + b, np.add, BOTH, "x1 + x2"),
    _Row("subtract", lambda a, b: a - b, np.subtract, BOTH, "x1 - x2"),
    _Row("multiply", lambda a, b: a * b, np.multiply, BOTH, "x1 * x2"),
    _Row("divide", lambda a, b: a / b, np.divide, ("float32",), "x1 / x2 (true division; float32 only)"),
    _Row("maximum", _select_max, np.maximum, BOTH, "elementwise max; NaN if either is NaN"),
    _Row("minimum", _select_min, np.minimum, BOTH, "elementwise min; NaN if either is NaN"),
    _Row(
        "power",
        _power,
        np.power,
        ("float32",),
        "x1 ** x2 (float32 only); numpy's special values: (-8) ** (1/3) = nan, 0 ** -1 = inf, x ** 0 = 1",
        lanes=4,
    ),
]


Folded = list[tuple[int, int, int]]  # (size, x1 element stride, x2 element stride) per dim, outer first


def broadcast_layout(shape1: tuple[int, ...], shape2: tuple[int, ...]) -> tuple[tuple[int, ...], Folded]:
    """numpy's broadcast output shape and the folded iteration: [(size, x1 stride, x2 stride)], outer first.

    Raises ValueError (message without the op name) when the shapes do not broadcast.
    """
    nd = max(len(shape1), len(shape2))
    s1 = (1,) * (nd - len(shape1)) + tuple(shape1)
    s2 = (1,) * (nd - len(shape2)) + tuple(shape2)
    out = []
    for a, b in zip(s1, s2, strict=True):
        if a != b and a != 1 and b != 1:
            raise ValueError(f"operands could not be broadcast together with shapes {shape1} {shape2}")
        out.append(b if a == 1 else a)
    if math.prod(out) == 0:
        return tuple(out), [(0, 1, 1)]
    folded: Folded = []
    st1, st2 = math.prod(s1), math.prod(s2)
    for n, a, b in zip(out, s1, s2, strict=True):
        st1, st2 = st1 // a, st2 // b  # contiguous element strides
        if n == 1:
            continue
        d = (n, st1 if a != 1 else 0, st2 if b != 1 else 0)
        if folded and folded[-1][1] == d[1] * n and folded[-1][2] == d[2] * n:
            folded[-1] = (folded[-1][0] * n, d[1], d[2])  # same pattern as the dim outside it: merge
        else:
            folded.append(d)
    return tuple(out), folded or [(1, 1, 1)]


def _is_python_scalar(v: Any) -> bool:
    return isinstance(v, bool | int | float)


class Binary(Op):
    """An elementwise op of two broadcastable tensors (or one tensor and a Python scalar)."""

    def __init__(self, row: _Row):
        self.row = row
        self.name = row.name
        self.__doc__ = (
            f"{row.name}(x1, x2): {row.doc}, elementwise; dtype {' or '.join(row.dtypes)}.\n\n"
            "x1 and x2 broadcast like numpy (any ranks; the result has the broadcast shape). Both arrays must "
            "have the same dtype; a Python int or float for either one takes the other's dtype (numpy's weak "
            "scalars), and a Python float with an int32 array is a TypeError (numpy would go to float64)."
        )

    def kernels(self) -> list[Kernel]:
        return [
            Kernel(
                f"{prefix(np.dtype(dt))}_{self.name}_{v}",
                lambda dt=dt, v=v: self._build(dt, v),
                (TENSOR,) * 3 + (INT,) * (2 * (RANK - 1)),
            )
            for dt in self.row.dtypes
            for v in VARIANTS
        ]

    def _build(self, dtype: str, variant: str):
        from tvm import s_tir, te

        from ._simd import vector_loop
        from .simd_schedules import dims, prim_func

        shape = dims(*(f"d{i}" for i in range(RANK)))
        n1, n2 = dims("n1", "n2")
        a = te.placeholder((n1,), dtype, name="x1")
        b = te.placeholder((n2,), dtype, name="x2")
        s1 = [te.var(f"x1_stride{i}", "int32") for i in range(RANK - 1)]
        s2 = [te.var(f"x2_stride{i}", "int32") for i in range(RANK - 1)]

        def at(t, strides, runs, i):
            offset = sum(s * v for s, v in zip(strides, i[:-1], strict=True))
            return t[offset + i[-1]] if runs else t[offset]

        out = te.compute(
            shape,
            lambda *i: self.row.te_expr(at(a, s1, variant[0] == "v", i), at(b, s2, variant[1] == "v", i)),
            name="out",
        )
        sch = s_tir.Schedule(prim_func([a, b, out, *s1, *s2]))
        vector_loop(sch, sch.get_loops(sch.get_sblock("out"))[-1], self.row.lanes)
        return sch.mod["main"]

    def _operands(self, x1: Any, x2: Any) -> tuple[np.ndarray, np.ndarray]:
        """Two arrays of one dtype; a Python scalar takes the other operand's dtype (numpy's weak scalars)."""
        dtypes = self.row.dtypes
        if _is_python_scalar(x1) and _is_python_scalar(x2):
            floats = isinstance(x1, float) or isinstance(x2, float) or "int32" not in dtypes
            dt = np.dtype("float32" if floats else "int32")
            return np.asarray(x1, dt), np.asarray(x2, dt)
        if _is_python_scalar(x1) or _is_python_scalar(x2):
            swap = _is_python_scalar(x1)
            arr_name, scalar_name = ("x2", "x1") if swap else ("x1", "x2")
            arr = self.tensor(x2 if swap else x1, arr_name, dtypes)
            s = self.weak_scalar(x1 if swap else x2, arr, scalar_name, arr_name)
            return (s, arr) if swap else (arr, s)
        a, b = self.tensor(x1, "x1", dtypes), self.tensor(x2, "x2", dtypes)
        self.same_dtype(a, b)
        return a, b

    def reference(self, x1, x2) -> np.ndarray:
        a, b = self._operands(x1, x2)
        with np.errstate(all="ignore"):
            return np.asarray(self.row.reference(a, b)).astype(a.dtype)

    def plan(self, x1: np.ndarray | float, x2: np.ndarray | float) -> Call:
        a, b = self._operands(x1, x2)
        try:
            out_shape, folded = broadcast_layout(a.shape, b.shape)
        except ValueError as exc:
            raise self.fail(str(exc)) from None
        if len(folded) > RANK:
            raise self.fail(
                f"shapes {a.shape} and {b.shape} broadcast in {len(folded)} alternating dim groups; "
                f"at most {RANK} are supported"
            )
        folded = [(1, 0, 0)] * (RANK - len(folded)) + folded
        n, inner1, inner2 = folded[-1]
        variant = ("v" if inner1 else "s") + ("v" if inner2 else "s")
        scalars = tuple(d[1] for d in folded[:-1]) + tuple(d[2] for d in folded[:-1])
        return Call(
            f"{prefix(a.dtype)}_{self.name}_{variant}",
            [a.reshape(-1), b.reshape(-1)],
            tuple(d[0] for d in folded),
            a.dtype,
            scalars,
            out_shape,
        )


OPS = [Binary(row) for row in ROWS]

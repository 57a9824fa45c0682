"""Comparisons with numpy broadcasting, giving bool: equal, less, less_equal, greater, greater_equal.

They run on the same broadcast_map kernels as `where` (ops/_tensor_kernels.py, host side in
ops/tensor_ops.py `map_call`): the broadcast folds into at most 5 dims, each input is read flat with one
stride per outer dim, and the kernel variant `<dt>_<op>_<v|s><v|s>` says which input runs along the
vectorised inner dim. To keep the library small, greater / greater_equal run less / less_equal with the
operands swapped, and equal (symmetric) has no "sv" kernel: its operands are swapped instead.
Float compares are ordered: NaN compares false, as in numpy. (not_equal is left out: numpy says
NaN != NaN is true, which an ordered compare gets wrong.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .spec import INT, TENSOR, Call, Kernel, Op
from .strided import kernel_prefix
from .tensor_ops import MAP_RANK, VALUES, broadcast_shape, map_call, map_variants, operand_pair


@dataclass(frozen=True)
class _Row:
    name: str
    code: str  # _tensor_kernels.compare's op code
    reference: Callable
    doc: str
    kernel_op: str = ""  # run this op's kernels with the operands swapped (x1 > x2 is x2 < x1)


ROWS = [
    _Row("equal", "eq", np.equal, "x1 == x2"),
    _Row("less", "lt", np.less, "x1 < x2"),
    _Row("less_equal", "le", np.less_equal, "x1 <= x2"),
    _Row("greater", "gt", np.greater, "x1 > x2", kernel_op="less"),
    _Row("greater_equal", "ge", np.greater_equal, "x1 >= x2", kernel_op="less_equal"),
]


class Compare(Op):
    """An elementwise comparison of two broadcastable tensors (or a tensor and a Python scalar)."""

    def __init__(self, row: _Row):
        self.row = row
        self.name = row.name
        self.__doc__ = f"{row.name}(x1, x2): {row.doc} as bool, with numpy broadcasting; float32 or int32."
        self.uses = (row.kernel_op,) if row.kernel_op else ()

    def kernels(self) -> list[Kernel]:
        if self.row.kernel_op:
            return []

        def build(dtype: str, variant: str):
            from . import _tensor_kernels

            return _tensor_kernels.compare(dtype, self.row.code, variant)

        params = (TENSOR,) * 3 + (INT,) * (2 * (MAP_RANK - 1))
        return [
            Kernel(f"{kernel_prefix(np.dtype(dt))}_{self.name}_{v}", lambda dt=dt, v=v: build(dt, v), params)
            for dt in VALUES
            for v in map_variants(2)
            if not (self.name == "equal" and v == "sv")
        ]

    def reference(self, x1, x2) -> np.ndarray:
        a, b = operand_pair(self, x1, x2, ("x1", "x2"))
        broadcast_shape(self, a, b)
        return np.asarray(self.row.reference(a, b))

    def plan(self, x1: np.ndarray | float | int, x2: np.ndarray | float | int) -> Call:
        a, b = operand_pair(self, x1, x2, ("x1", "x2"))
        broadcast_shape(self, a, b)
        kernel = f"{kernel_prefix(a.dtype)}_{self.row.kernel_op or self.name}"
        if self.row.kernel_op:
            a, b = b, a
        call = map_call(self, kernel, [a, b], np.dtype(bool))
        if self.name == "equal" and call.kernel.endswith("_sv"):
            call = map_call(self, kernel, [b, a], np.dtype(bool))
        return call


def _plan_doc(row: _Row) -> str:
    return (
        f"Elementwise {row.doc} (numpy.{row.name}), as a bool array.\n\n"
        "x1, x2: float32 or int32 arrays of one dtype, or Python scalars (which take the other operand's\n"
        "dtype). They broadcast together (numpy rules); at most 5 dims may remain after size-1 dims are\n"
        "dropped and dims with the same broadcast pattern are merged. Comparisons with NaN are false."
    )


def _op_class(row: _Row) -> type[Compare]:
    """One subclass per row, so each op's `plan` carries its own docstring (the numpy binding copies it)."""

    def plan(self, x1: np.ndarray | float | int, x2: np.ndarray | float | int) -> Call:
        return Compare.plan(self, x1, x2)

    plan.__doc__ = _plan_doc(row)
    return type(f"Compare_{row.name}", (Compare,), {"plan": plan})


OPS = [_op_class(row)(row) for row in ROWS]

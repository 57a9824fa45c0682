"""Schedule and TE helpers for shape-generic SIMD kernels (build time only: imports TVM).

What the shared `simd_schedules` helpers do not give:

* `vector_loop`: split a loop of symbolic extent by 16, vectorise the inner 16 and mark the outer loop
  with `pragma_loop_partition_hint`, so TVM's LoopPartition peels the predicated tail off and the full
  chunks become unpredicated v128 code. Without the hint the predicate stays inside the vector loop and
  TVM scalarises all 16 lanes with a branch each.
* `row_reduce` / `schedule_row_reduce`: a reduction along a contiguous row, vectorised across the row:
  16 lane-partials over the full 16-chunks, a scalar tail, then the 16 lanes folded.
* `schedule_col_reduce`: a reduction across rows, vectorised along the contiguous kept axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tvm
from tvm import te

from . import _fastmath

VEC = 16
_HINT = "pragma_loop_partition_hint"


def vector_loop(sch: tvm.s_tir.Schedule, loop, lanes: int = VEC):
    """Split `loop` by `lanes`, vectorise the inner part and let LoopPartition peel the tail."""
    outer, inner = sch.split(loop, [None, lanes])
    sch.vectorize(inner)
    sch.annotate(outer, _HINT, 1)
    return outer, inner


@dataclass(frozen=True)
class Reducer:
    """A commutative reduction: the TE reducer and the same combine as a binary expression."""

    reduce: Callable  # te.comm_reducer: reduce(expr, axis=[...])
    combine: Callable  # (a, b) -> a combined with b

    @staticmethod
    def sum(dtype: str) -> Reducer:
        return Reducer(te.sum, lambda a, b: a + b)

    @staticmethod
    def max(dtype: str) -> Reducer:
        """max; for floats a NaN anywhere wins (numpy's np.max propagates NaN)."""
        if dtype.startswith("int"):
            return Reducer(te.max, te.max)

        def combine(acc, v):
            return tvm.tirx.Select(tvm.tirx.any(v > acc, _fastmath.isnan(v)), v, acc)

        reducer = te.comm_reducer(combine, lambda t: tvm.tirx.const(float("-inf"), t), name="nanmax")
        return Reducer(reducer, combine)

    @staticmethod
    def min(dtype: str) -> Reducer:
        """min; for floats a NaN anywhere wins (numpy's np.min propagates NaN)."""
        if dtype.startswith("int"):
            return Reducer(te.min, te.min)

        def combine(acc, v):
            return tvm.tirx.Select(tvm.tirx.any(v < acc, _fastmath.isnan(v)), v, acc)

        reducer = te.comm_reducer(combine, lambda t: tvm.tirx.const(float("inf"), t), name="nanmin")
        return Reducer(reducer, combine)

    @staticmethod
    def prod(dtype: str) -> Reducer:
        reducer = te.comm_reducer(lambda a, b: a * b, lambda t: tvm.tirx.const(1, t), name="prod")
        return Reducer(reducer, lambda a, b: a * b)


def schedule_col_reduce(sch: tvm.s_tir.Schedule, name: str) -> None:
    """Vectorise a reduction block whose innermost spatial axis is contiguous in its input: loops become
    (outer spatial..., chunk of 16, reduce loops..., 16 lanes), so each 16-wide accumulator stays put
    while the reduce loops stream rows through it."""
    blk = sch.get_sblock(name)
    n_red = sum(1 for iv in sch.get(blk).iter_vars if iv.iter_type == tvm.tirx.IterVar.CommReduce)
    loops = sch.get_loops(blk)
    inner, red = loops[-1 - n_red], loops[len(loops) - n_red :]
    chunk, lanes = sch.split(inner, [None, VEC])
    sch.reorder(chunk, *red, lanes)
    sch.vectorize(lanes)
    sch.annotate(chunk, _HINT, 1)
    sch.decompose_reduction(blk, red[0])


def row_reduce(
    shape: Sequence,
    row: tvm.tirx.PrimExpr,
    load: Callable,
    red: Reducer,
    name: str,
    extra: Sequence = (),
) -> tuple[te.Tensor, list[str]]:
    """out[*i] = reduction over k < row (and the `extra` reduce extents) of load(i, extra_vars, k).

    Returns the result tensor and the names of its stages (for `schedule_row_reduce`). `load` must read
    a contiguous run along k so the lane stage vectorises.
    """
    shape = list(shape)
    full = row // VEC
    ext = [te.reduce_axis((0, e), f"{name}_e{n}") for n, e in enumerate(extra)]
    j = te.reduce_axis((0, full), f"{name}_j")
    lanes = te.compute(
        [*shape, VEC], lambda *i: red.reduce(load(i[:-1], ext, j * VEC + i[-1]), axis=[*ext, j]), name=f"{name}_lanes"
    )
    ext_t = [te.reduce_axis((0, e), f"{name}_te{n}") for n, e in enumerate(extra)]
    t = te.reduce_axis((0, row - full * VEC), f"{name}_t")
    tail = te.compute(
        shape, lambda *i: red.reduce(load(i, ext_t, full * VEC + t), axis=[*ext_t, t]), name=f"{name}_tail"
    )
    lane = te.reduce_axis((0, VEC), f"{name}_l")
    fold = te.compute(shape, lambda *i: red.reduce(lanes[(*i, lane)], axis=[lane]), name=f"{name}_fold")
    total = te.compute(shape, lambda *i: red.combine(fold(*i), tail(*i)), name=name)
    return total, row_stages(name)


def row_stages(name: str) -> list[str]:
    """The stage names `row_reduce(..., name)` creates, consumer first."""
    return [name, f"{name}_fold", f"{name}_tail", f"{name}_lanes"]


def schedule_row_reduce(sch: tvm.s_tir.Schedule, stages: list[str], loop, place_total: bool = True) -> None:
    """Move the stages of one `row_reduce` under `loop` of their consumer, where they shrink to a few
    scalars and one 16-lane vector per row, and vectorise the lane stage across its 16 lanes.

    `place_total=False` when the total is itself the kernel output and `loop` is its innermost loop.
    """
    for name in stages if place_total else stages[1:]:
        sch.compute_at(sch.get_sblock(name), loop)
    blk = sch.get_sblock(stages[-1])
    n_red = sum(1 for iv in sch.get(blk).iter_vars if iv.iter_type == tvm.tirx.IterVar.CommReduce)
    lane, *red = sch.get_loops(blk)[-(1 + n_red) :]
    sch.reorder(*red, lane)
    sch.vectorize(lane)
    sch.decompose_reduction(blk, red[0])

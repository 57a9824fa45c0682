"""Vectorised row sums for row-wise ops (global average pooling, normalisation); build-time only.

A row of symbolic length K is summed as VEC partial sums over the first K // VEC * VEC elements (one
contiguous v128-friendly loop with no tail predicate) plus a short scalar tail, then the partials are
added. `schedule_row_sum` places every stage under the caller's row loop so the row stays in cache.
"""

from __future__ import annotations

from collections.abc import Callable

import tvm
from tvm import te

from .simd_schedules import VEC


def row_sum(value: Callable, rows, length, name: str) -> te.Tensor:
    """Sum of value(r, k) over k < length, for each r < rows; value is indexed with plain expressions."""
    blocks = tvm.tirx.floordiv(length, VEC)
    ko = te.reduce_axis((0, blocks), f"{name}_ko")
    part = te.compute((rows, VEC), lambda r, lane: te.sum(value(r, ko * VEC + lane), axis=ko), name=f"{name}_part")
    t = te.reduce_axis((0, length - blocks * VEC), f"{name}_t")
    tail = te.compute((rows,), lambda r: te.sum(value(r, blocks * VEC + t), axis=t), name=f"{name}_tail")
    lane = te.reduce_axis((0, VEC), f"{name}_lane")
    lanes = te.compute((rows,), lambda r: te.sum(part[r, lane], axis=lane), name=f"{name}_lanes")
    return te.compute((rows,), lambda r: lanes[r] + tail[r], name=name)


def schedule_row_sum(sch: tvm.s_tir.Schedule, name: str, row_loop) -> None:
    """compute_at the four stages of row_sum(name) under row_loop and vectorise its partial sums."""
    sch.compute_at(sch.get_sblock(name), row_loop)
    for stage in ("lanes", "tail", "part"):  # consumers first: compute_at needs them placed already
        sch.compute_at(sch.get_sblock(f"{name}_{stage}"), row_loop)
    part = sch.get_sblock(f"{name}_part")
    lane, ko = sch.get_loops(part)[-2:]
    sch.reorder(ko, lane)
    sch.vectorize(lane)
    # TIR runs a block's init on the first reduction iteration; a reduction loop may have zero
    # iterations here (K < VEC, or no tail), so the inits become separate stores before the loops.
    sch.decompose_reduction(part, ko)
    tail = sch.get_sblock(f"{name}_tail")
    sch.decompose_reduction(tail, sch.get_loops(tail)[-1])

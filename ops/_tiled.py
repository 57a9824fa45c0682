"""The register-tiled microkernel schedule shared by dense, matmul and conv2d.

Each of those ops computes an accumulator stage `acc` over zero-padded extents (rows padded to MR, columns
to NR, so the hot loop has no predicate) and an output stage that copies acc (+ bias) into the exact
shape. This schedule tiles the output MR x NR, keeps the tile's accumulators in locals (MR*NR/4 v128
registers), runs the whole reduction over them with broadcast-row x vector-column FMAs, then writes the
tile back once, predicated only there; the tiles run on the thread pool (parallel_outer), the packs do
not. MR=2, NR=16 measured best under wasmtime's x86 backend (8 accumulators + 4 column vectors + a
broadcast fit the 16 XMM registers without spilling).
"""

from __future__ import annotations

import tvm

from ._tile_sizes import HAND, MR, NR, Tile

__all__ = ["MR", "NR", "parallel_outer", "schedule_tiled"]


def schedule_tiled(
    func: tvm.tirx.PrimFunc,
    out: str,
    acc: str,
    row_axis: int,
    col_axis: int,
    packs: tuple[str, ...] = (),
    inline: tuple[str, ...] = (),
    panels_outer: bool = False,
    tile: Tile = HAND,
) -> tvm.tirx.PrimFunc:
    """Tile `out`'s loops row_axis x col_axis by `tile` (MR x NR by hand) and compute `acc` per tile in registers.

    `out`'s loops must end with the column axis; `acc` must have its reduction loops last. Pack stages
    get their innermost loop vectorised; `inline` stages are folded into their consumers. `panels_outer`
    runs every row tile of one NR-column panel before the next panel, so a big weight's panel is read from
    cache rather than from memory once per row tile (dense: ~10 % on BERT's 768 x 3072 layers).
    """
    sch = tvm.s_tir.Schedule(func)
    for name in inline:
        sch.compute_inline(sch.get_sblock(name))
    out_blk = sch.get_sblock(out)
    loops = list(sch.get_loops(out_blk))
    ro, ri = sch.split(loops[row_axis], [None, tile.rows])
    co, ci = sch.split(loops[col_axis], [None, tile.cols])
    others = [lp for k, lp in enumerate(loops) if k not in (row_axis, col_axis)]
    if panels_outer:
        sch.reorder(*others, co, ro, ri, ci)
    else:
        sch.reorder(*others[:row_axis], ro, *others[row_axis:], co, ri, ci)
    sch.vectorize(ci)
    acc_blk = sch.get_sblock(acc)
    sch.compute_at(acc_blk, ro if panels_outer else co)
    sch.set_scope(acc_blk, 0, "local")
    acc_loops = list(sch.get_loops(acc_blk))  # below the tile loop: MR rows, NR cols, the reductions
    tile_loops = 1 + (tile.rows > 1)  # compute_at leaves no row loop for a one-row tile
    inner = acc_loops[len(acc_loops) - _num_reduce(sch, acc_blk) - tile_loops :]
    rows, col, reduce_loops = inner[: tile_loops - 1], inner[tile_loops - 1], inner[tile_loops:]
    sch.reorder(*reduce_loops, *rows, col)
    sch.vectorize(col)
    for row in rows:
        sch.unroll(row)
    # every loop above the MR x NR tile: (batch,) rows, (..,) cols; before decompose_reduction, which leaves
    # an update block that the parallel check rejects
    parallel_outer(sch, out_blk, len(loops))
    sch.decompose_reduction(acc_blk, reduce_loops[0])
    # Pack stages stay on the calling thread: inside a parallel closure their predicated, store-heavy loops
    # compiled 2-4x slower (measured one thread, depthwise and 1x1 convs), more than a second thread wins back.
    for name in packs:
        blk = sch.get_sblock(name)
        inner = sch.get_loops(blk)[-1]
        _, vec = sch.split(inner, [None, NR])
        sch.vectorize(vec)
    return sch.mod["main"]


def parallel_outer(sch: tvm.s_tir.Schedule, block, count: int) -> None:
    """Fuse a block's outermost `count` loops and run them on the thread pool.

    TVM gives each task one contiguous slice of the fused loop, so the split depends only on the thread
    count and no reduction is reordered: results are identical for any number of threads."""
    if count <= 0:
        return
    loops = sch.get_loops(block)[:count]
    sch.parallel(sch.fuse(*loops) if count > 1 else loops[0])


def _num_reduce(sch: tvm.s_tir.Schedule, block) -> int:
    iters = sch.get(block).iter_vars
    return sum(1 for iv in iters if iv.iter_type == tvm.tirx.IterVar.CommReduce)

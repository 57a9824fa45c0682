"""dense: y = x · Wᵀ + b, the fully-connected layer (PyTorch `nn.Linear` / ONNX Gemm with transB=1 layout).

Kernel: rows of x (all leading dims collapsed) times packed weight columns, tiled MR x NR in registers
(see ops/_tiled.py). The weight is repacked per call into NR-wide column panels so the hot loop does
contiguous vector loads; that costs N*K moves against M*N*K multiply-adds, too much for a single row,
which `f32_dense_row` computes from the weight as it is.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from ._tile_sizes import NR, PANEL_TILES, TILES, tiled
from .spec import TENSOR, Call, Kernel, Op, packs_constant


def _build(packed: bool = False, tile=None):
    import tvm
    from tvm import te

    from ._tiled import HAND, NR, schedule_tiled
    from .simd_schedules import dims, prim_func

    tr, tc = (tile or HAND).rows, (tile or HAND).cols
    m, n, k = dims("m", "n", "k")
    x = te.placeholder((m, k), "float32", name="x")
    w = te.placeholder((n, k), "float32", name="w")
    b = te.placeholder((n,), "float32", name="b")
    zero = tvm.tirx.const(0.0, "float32")
    mp, no = (m + tr - 1) // tr * tr, (n + tc - 1) // tc
    xp = te.compute(
        (mp // tr, k, tr), lambda io, r, ii: te.if_then_else(io * tr + ii < m, x[io * tr + ii, r], zero), name="xp"
    )
    if packed:  # (N / NR, K, NR), packed on the host once (pack_columns); a tile reads within one panel
        w = wp = te.placeholder((te.var("panels", "int32"), k, NR), "float32", name="wp")

        def column(j, r):
            return wp[j // NR, r, j % NR]
    else:
        wp = te.compute(
            (no, k, tc),
            lambda jo, r, ji: te.if_then_else(jo * tc + ji < n, w[jo * tc + ji, r], zero),
            name="wp",
        )

        def column(j, r):
            return wp[j // tc, r, j % tc]

    r = te.reduce_axis((0, k), "r")
    acc = te.compute((mp, no * tc), lambda i, j: te.sum(xp[i // tr, r, i % tr] * column(j, r), axis=r), name="acc")
    y = te.compute((m, n), lambda i, j: acc[i, j] + b[j], name="y")
    packs = ("xp",) if packed else ("xp", "wp")
    func = prim_func([x, w, b, y])
    return schedule_tiled(func, "y", "acc", 0, 1, packs=packs, panels_outer=True, tile=tile or HAND)


#: floats per weight-row chunk of the one-row kernel: four v128 lanes of partial sums
ROW_CHUNK = 16


def _build_row():
    """One row of x (a classifier, a decoder step): y = W x + b with W read row by row as it is, K a
    multiple of ROW_CHUNK. The tiled kernel would first repack all of W into column panels for a single
    output row, ~10x the work of reading W once; here each output keeps ROW_CHUNK partial sums in
    registers and adds them up at the end."""
    import tvm
    from tvm import te

    from .simd_schedules import dims, prim_func

    n, kb = dims("n", "kb")
    x = te.placeholder((kb, ROW_CHUNK), "float32", name="x")
    w = te.placeholder((n, kb, ROW_CHUNK), "float32", name="w")
    b = te.placeholder((n,), "float32", name="b")
    r = te.reduce_axis((0, kb), "r")
    part = te.compute((n, ROW_CHUNK), lambda j, lane: te.sum(x[r, lane] * w[j, r, lane], axis=r), name="part")
    lane = te.reduce_axis((0, ROW_CHUNK), "lane")
    total = te.compute((n,), lambda j: te.sum(part[j, lane], axis=lane), name="total")
    y = te.compute((n,), lambda j: total[j] + b[j], name="y")
    sch = tvm.s_tir.Schedule(prim_func([x, w, b, y]))
    jo, ji = sch.split(sch.get_loops(sch.get_sblock("y"))[0], [None, ROW_CHUNK])
    sch.parallel(jo)
    total_blk, part_blk = sch.get_sblock("total"), sch.get_sblock("part")
    sch.compute_at(total_blk, ji)
    sch.compute_at(part_blk, ji)
    sch.set_scope(part_blk, 0, "local")
    pl, pr = sch.get_loops(part_blk)[-2:]
    sch.reorder(pr, pl)
    sch.vectorize(pl)
    sch.decompose_reduction(part_blk, pr)
    return sch.mod["main"]


class Dense(Op):
    name = "dense"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_dense", _build, (TENSOR,) * 4, TILES),
            Kernel("f32_dense_packed", lambda tile=None: _build(True, tile), (TENSOR,) * 4, PANEL_TILES),
            Kernel("f32_dense_row", _build_row, (TENSOR,) * 4),
        ]

    def reference(self, x, weight, bias=None) -> np.ndarray:
        y = np.asarray(x, np.float64) @ np.asarray(weight, np.float64).T
        if bias is not None:
            y = y + np.asarray(bias, np.float64)
        return y.astype(np.float32)

    def plan(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> Call:
        """Fully-connected layer: ``y = x @ weight.T + bias``.

        x: (..., in_features) float32, any number of leading dims; weight: (out_features, in_features);
        bias: (out_features,) or None. Returns (..., out_features) float32.
        """
        x = self.tensor(x, "x", ndim=range(1, 9))
        weight = self.tensor(weight, "weight", ndim=2)
        n, k = weight.shape
        if x.shape[-1] != k:
            raise self.fail(
                f"x has {x.shape[-1]} features (shape {x.shape}) but weight expects {k} (shape {weight.shape})"
            )
        bias = self.bias(bias, n)
        rows = x.reshape(int(np.prod(x.shape[:-1])), k)
        if rows.shape[0] == 1 and k and k % ROW_CHUNK == 0:
            rowed = _once(weight, "rows", lambda w: w.reshape(n, k // ROW_CHUNK, ROW_CHUNK))
            return Call(
                "f32_dense_row",
                [rows.reshape(k // ROW_CHUNK, ROW_CHUNK), rowed, bias],
                (n,),
                np.float32,
                result_shape=x.shape[:-1] + (n,),
            )
        packed = packs_constant(weight)
        return Call(
            tiled("f32_dense_packed" if packed else "f32_dense", rows.shape[0], n),
            [rows, _once(weight, "panels", pack_columns) if packed else weight, bias],
            (rows.shape[0], n),
            np.float32,
            result_shape=x.shape[:-1] + (n,),
        )


_DERIVED: dict[tuple[int, str], weakref.ref] = {}


def _once(weight, kind: str, make: Callable[[np.ndarray], np.ndarray]):
    """`make(weight)`, reused while it lives: graphs upload constants by identity, so an unrolled recurrent
    layer calling dense on one weight at every step holds one packed copy, not one per step. Only weak
    references are kept (no array outlives its users), and the entry goes with the weight (ids are reused)."""
    if not isinstance(weight, np.ndarray):
        return make(weight)
    key = (id(weight), kind)
    ref = _DERIVED.get(key)
    derived = None if ref is None else ref()
    if derived is None:
        derived = make(weight)
        if ref is None:
            weakref.finalize(weight, _DERIVED.pop, key, None)
        _DERIVED[key] = weakref.ref(derived)
    return derived


def pack_columns(w: np.ndarray) -> np.ndarray:
    """(N, K) -> (N / NR, K, NR), zero-padded: the weight panels the dense kernel reads."""
    n, k = w.shape
    padded = np.zeros((-(-n // NR) * NR, k), np.float32)
    padded[:n] = w
    return np.ascontiguousarray(padded.reshape(padded.shape[0] // NR, NR, k).transpose(0, 2, 1))


OPS = [Dense()]

"""matmul: numpy's `a @ b` for float32 — 2-D, and batched with broadcasting over the leading dims.

The host collapses the broadcast batch dims to at most two, each with a per-operand batch stride (0 where
that operand is broadcast), so one shape-generic kernel serves every batch layout. The microkernel is the
register-tiled one of ops/_tiled.py; b is repacked per batch into NR-wide column panels.
"""

from __future__ import annotations

import numpy as np

from ._tile_sizes import TILES, tiled
from .spec import INT, TENSOR, Call, Kernel, Op

BATCH_DIMS = 2


def _build(tile=None):
    import tvm
    from tvm import te

    from ._tiled import HAND, schedule_tiled
    from .simd_schedules import dims, prim_func

    MR, NR = (tile or HAND).rows, (tile or HAND).cols  # noqa: N806 - the tile, named as in ops/_tiled.py

    ba, bb, b0, b1, m, n, k = dims("ba", "bb", "b0", "b1", "m", "n", "k")
    sa0, sa1, sb0, sb1 = (te.var(s, "int32") for s in ("sa0", "sa1", "sb0", "sb1"))
    a = te.placeholder((ba, m, k), "float32", name="a")
    b = te.placeholder((bb, k, n), "float32", name="b")
    zero = tvm.tirx.const(0.0, "float32")
    mp, no = (m + MR - 1) // MR * MR, (n + NR - 1) // NR
    ap = te.compute(
        (b0, b1, mp, k), lambda i0, i1, i, r: te.if_then_else(i < m, a[i0 * sa0 + i1 * sa1, i, r], zero), name="ap"
    )
    bp = te.compute(
        (b0, b1, no, k, NR),
        lambda i0, i1, jo, r, ji: te.if_then_else(jo * NR + ji < n, b[i0 * sb0 + i1 * sb1, r, jo * NR + ji], zero),
        name="bp",
    )
    r = te.reduce_axis((0, k), "r")
    acc = te.compute(
        (b0, b1, mp, no * NR),
        lambda i0, i1, i, j: te.sum(ap[i0, i1, i, r] * bp[i0, i1, j // NR, r, j % NR], axis=r),
        name="acc",
    )
    c = te.compute((b0, b1, m, n), lambda i0, i1, i, j: acc[i0, i1, i, j], name="c")
    func = prim_func([a, b, c, sa0, sa1, sb0, sb1])
    return schedule_tiled(func, "c", "acc", 2, 3, packs=("ap", "bp"), tile=tile or HAND)


def _collapse_batch(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[list[int], list[int], list[int]]:
    """Broadcast two batch shapes, then merge neighbouring dims with the same broadcast pattern.

    Returns the output batch dims and each operand's batch strides (in matrices; 0 = broadcast).
    """
    shape = np.broadcast_shapes(sa, sb)
    sa = (1,) * (len(shape) - len(sa)) + sa
    sb = (1,) * (len(shape) - len(sb)) + sb
    dims_out: list[int] = []
    pattern: list[tuple[bool, bool]] = []
    for d, da, db in zip(shape, sa, sb, strict=True):
        if d == 1:
            continue
        p = (da == d, db == d)
        if pattern and pattern[-1] == p:
            dims_out[-1] *= d
        else:
            dims_out.append(d)
            pattern.append(p)
    strides_a, strides_b, acc_a, acc_b = [0] * len(dims_out), [0] * len(dims_out), 1, 1
    for i in reversed(range(len(dims_out))):
        if pattern[i][0]:
            strides_a[i], acc_a = acc_a, acc_a * dims_out[i]
        if pattern[i][1]:
            strides_b[i], acc_b = acc_b, acc_b * dims_out[i]
    return dims_out, strides_a, strides_b


class Matmul(Op):
    name = "matmul"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_matmul", _build, (TENSOR,) * 3 + (INT,) * 4, TILES)]

    def reference(self, a, b) -> np.ndarray:
        return np.matmul(np.asarray(a, np.float64), np.asarray(b, np.float64)).astype(np.float32)

    def plan(self, a: np.ndarray, b: np.ndarray) -> Call:
        """Matrix product with numpy semantics: (..., M, K) @ (..., K, N) -> (..., M, N).

        1-D operands are promoted as numpy does (a vector on the left gets a leading 1, on the right a
        trailing 1, removed from the result). Batch dims broadcast. float32 only.
        """
        a = self.tensor(a, "a", ndim=range(1, 9))
        b = self.tensor(b, "b", ndim=range(1, 9))
        a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a  # reshape, not indexing: TensorRefs too
        b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
        (m, k), (k2, n) = a2.shape[-2:], b2.shape[-2:]
        if k != k2:
            raise self.fail(f"contracted dims differ: a has shape {a.shape}, b has shape {b.shape} ({k} != {k2})")
        try:
            batch, strides_a, strides_b = _collapse_batch(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise self.fail(f"batch dims of {a.shape} and {b.shape} do not broadcast") from None
        if len(batch) > BATCH_DIMS:
            raise self.fail(
                f"batch broadcasting of {a.shape} and {b.shape} needs {len(batch)} batch dims after "
                f"merging; the kernel supports {BATCH_DIMS}"
            )
        pad = BATCH_DIMS - len(batch)
        batch, strides_a, strides_b = [1] * pad + batch, [0] * pad + strides_a, [0] * pad + strides_b
        out_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (m, n)
        if a.ndim == 1:
            out_shape = out_shape[:-2] + (n,)
        if b.ndim == 1:
            out_shape = out_shape[:-1]
        nba, nbb = int(np.prod(a2.shape[:-2])), int(np.prod(b2.shape[:-2]))
        return Call(
            tiled("f32_matmul", m, n),
            [a2.reshape(nba, m, k), b2.reshape(nbb, k, n)],
            (*batch, m, n),
            np.float32,
            (*strides_a, *strides_b),
            tuple(out_shape),
        )


OPS = [Matmul()]

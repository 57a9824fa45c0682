"""Static-shape Winograd F(m x m, 3 x 3) conv (3x3 stride 1, batch 1, NCHW) for ops/_conv_static.

Stages (TE names = block names, after the conv's `prefix`):
  xq    the input copied into one zero-padded plane per channel, tall and wide enough that every tile
        (including the padding tiles up to Pp) reads inside it: no bounds checks in the tile loads
  d     one alpha x alpha input tile per (channel, tile), alpha = m + 2: gathered into registers
  T     the row pass B^T d                 } the input transform V = B^T d B as two 1-D passes:
  V     the column pass (B^T d) B          } 2 alpha^3 multiply-adds per tile, not alpha^4
  acc   alpha^2 GEMMs M = U V over the channels: the conv's T x (4 NV) register-tiled microkernel
  buf   the GEMM results, (alpha, alpha, K, Pp)
  Z     the column pass M A                } the output transform Y = A^T M A, again two 1-D passes
  out   the row pass A^T (M A), tile-major  }
  y     the NCHW output, y = epilogue(out) (graph_schedule inlines bias / ReLU / residual here)
Every transform works on 4 tiles per v128 (tile index in the lanes). Its coefficients are written out in
Python per output row, zero terms dropped and +-1 terms as plain adds, so no multiply by a constant 0 or 1
is left for LLVM (which may not fold x * 0.0 without fast-math); the loops over alpha are unrolled. `out` is
tile-major so that both output passes are contiguous v128 loads and stores; the output stage gathers it back
to NCHW (one scalar load per output pixel, less than the transposes it saves).

Measured (ResNet-50 3x3 stride 1, 1 thread, relaxed SIMD, old and new alternated in one process): with the
single 2-D reduction per output the transforms cost F(4x4) all of its GEMM saving; as two passes F(4x4) runs
1.6-2.4x faster than before and beats F(2x2) at 56x56 (~30 %) and 28x28 (~15-20 %), ties at 14x14 and loses
at 7x7 (4 tiles in 8 lanes). F(2x2) gained 2-25 %. Hence m stays a per-shape (tuning) decision.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import te

#: float lanes of a v128
LANES = 4

#: Winograd output tile for 3x3 stride-1 convs (0 turns Winograd off); ops/_conv_static re-exports it
WINOGRAD = 2


def winograd_matrices(m: int):
    """(A, B, G) of F(m x m, 3 x 3), from TVM's Cook-Toom construction (Y = A^T [(G g G^T) * (B^T d B)] A)."""
    from tvm.topi.nn.winograd_util import _cook_toom_convolution, _interpolation_points

    return _cook_toom_convolution(_interpolation_points(m + 2), m, 3)


def packed_shape(w_shape, v) -> tuple:
    """U laid out per transformed tap (alpha, alpha, K/T, C, T, lanes): each GEMM reads one panel."""
    k, cg = int(w_shape[0]), int(w_shape[1])
    alpha = v.m + 2
    return (alpha, alpha, -(-k // v.T), cg, v.T, 1 if v.splat else LANES)


def transform_weight(w: np.ndarray, v) -> np.ndarray:
    """U = G g G^T per (k, c) in float64, as (alpha, alpha, K/T, C, T) float32 (the lanes are added by the
    caller). graph_packing rebuilds the same bytes at load time from the source weight."""
    _, _, gm = winograd_matrices(v.m)
    u = np.einsum("ea,kcab,ub->eukc", gm, w.astype(np.float64), gm)
    alpha, k, c = u.shape[0], u.shape[2], u.shape[3]
    kp = -(-k // v.T) * v.T
    up = np.zeros((alpha, alpha, kp, c))
    up[:, :, :k] = u
    up = up.reshape(alpha, alpha, kp // v.T, v.T, c).transpose(0, 1, 2, 4, 3)
    return up.astype(np.float32)


def _wgeom(x_shape, w_shape, pads, v) -> dict:
    _, c, h, w = (int(s) for s in x_shape)
    k = int(w_shape[0])
    pt, pl, pb, pr = pads
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    nh, nw = -(-oh // v.m), -(-ow // v.m)
    Pp = -(-(nh * nw) // (LANES * v.NV)) * LANES * v.NV
    rows = -(-Pp // nw) * v.m + 2  # the padding tiles p >= nh * nw read zero rows below the image
    cols = nw * v.m + 2
    return dict(
        c=c, h=h, w=w, k=k, pt=pt, pl=pl, oh=oh, ow=ow, nh=nh, nw=nw, Pp=Pp, rows=rows, cols=cols,
        L=-(-(rows * cols) // LANES) * LANES, kp=-(-k // v.T) * v.T, alpha=v.m + 2,
    )  # fmt: skip


def _lincomb(coefs, terms):
    """sum(c * t), the zero terms dropped and +-1 as adds or subtractions (exact: every Cook-Toom entry is
    a float32). A positive term goes first, so no negation (a multiply by -1) is needed."""
    pairs = sorted(((float(c), t) for c, t in zip(coefs, terms, strict=True) if c != 0), key=lambda ct: ct[0] < 0)
    out = None
    for c, t in pairs:
        if out is None:
            out = t if c == 1.0 else tvm.tirx.const(c, "float32") * t
        else:
            out = out + t if c == 1.0 else out - t if c == -1.0 else out + tvm.tirx.const(c, "float32") * t
    return out if out is not None else tvm.tirx.const(0.0, "float32")


def _column(mat, index, terms):
    """(mat^T terms)[index] for a loop variable `index`: a Select chain over the columns of `mat`, which
    folds to one column's linear combination once the loop over `index` is unrolled."""
    exprs = [_lincomb(mat[:, r], terms) for r in range(mat.shape[1])]
    out = exprs[-1]
    for r in range(len(exprs) - 2, -1, -1):
        out = tvm.tirx.Select(index == r, exprs[r], out)
    return out


def winograd(x, wp, x_shape, w_shape, pads, epi, prefix, v):
    """3x3 stride-1 conv as Winograd F(m x m, 3 x 3) (stages in the module docstring). The GEMMs do
    (m + 2)^2 / (9 m^2) of the direct conv's multiply-adds: 0.44 for m = 2, 0.25 for m = 4."""
    g = _wgeom(x_shape, w_shape, pads, v)
    am, bm, _ = (np.asarray(a) for a in winograd_matrices(v.m))
    m, alpha, nw, T, cols = v.m, g["alpha"], g["nw"], v.T, g["cols"]
    h, w, pt, pl = g["h"], g["w"], g["pt"], g["pl"]
    c, k, Pp = g["c"], g["k"], g["Pp"]
    zero = tvm.tirx.const(0.0, "float32")

    def fill(ci, i):
        iy, ix = i // cols - pt, i % cols - pl
        ok = tvm.tirx.all(iy >= 0, iy < h, ix >= 0, ix < w)
        return te.if_then_else(ok, x[0, ci, te.max(te.min(iy, h - 1), 0), te.max(te.min(ix, w - 1), 0)], zero)

    xq = te.compute((c, g["L"]), fill, name=prefix + "xq")
    d = te.compute(
        (c, alpha, alpha, Pp),
        lambda ci, a, b, p: xq[ci, ((p // nw) * m + a) * cols + (p % nw) * m + b],
        name=prefix + "d",
    )
    t1 = te.compute(  # T[e, b] = sum_a B[a, e] d[a, b]
        (c, alpha, alpha, Pp),
        lambda ci, e, b, p: _column(bm, e, [d[ci, a, b, p] for a in range(alpha)]),
        name=prefix + "T",
    )
    V = te.compute(  # V[e, u] = sum_b T[e, b] B[b, u]
        (alpha, alpha, c, Pp),
        lambda e, u, ci, p: _column(bm, u, [t1[ci, e, b, p] for b in range(alpha)]),
        name=prefix + "V",
    )
    rc = te.reduce_axis((0, c), "rc")
    acc = te.compute(
        (alpha, alpha, g["kp"] // T, T, Pp // LANES, LANES),
        lambda e, u, ko, ki, pv, lane: te.sum(
            wp[e, u, ko, rc, ki, 0 if v.splat else lane] * V[e, u, rc, pv * LANES + lane], axis=rc
        ),
        name=prefix + "acc",
    )
    M = te.compute(
        (alpha, alpha, g["kp"], Pp),
        lambda e, u, o, p: acc[e, u, o // T, o % T, p // LANES, p % LANES],
        name=prefix + "buf",
    )
    Z = te.compute(  # Z[s, j] = sum_t M[s, t] A[t, j]
        (k, alpha, m, Pp),
        lambda o, s, j, p: _column(am, j, [M[s, t, o, p] for t in range(alpha)]),
        name=prefix + "Z",
    )
    Y = te.compute(  # Y[i, j] = sum_s A[s, i] Z[s, j]
        (k, m, m, Pp),
        lambda o, i, j, p: _column(am, i, [Z[o, s, j, p] for s in range(alpha)]),
        name=prefix + "out",
    )
    return te.compute(
        (1, k, g["oh"], g["ow"]),
        lambda b, o, yy, xx: epi(Y[o, yy % m, xx % m, (yy // m) * nw + xx // m], b, o, yy, xx),
        name=prefix + "y",
    )


def schedule_winograd(sch, prefix, x_shape, w_shape, pads, v, block) -> None:
    """Schedule the stages of `winograd` inside `sch`; `block(name)` finds a block (None if absent)."""
    g = _wgeom(x_shape, w_shape, pads, v)
    # the padded planes: one channel per task, v128 copies
    ci, i = sch.get_loops(block(prefix + "xq"))
    sch.vectorize(sch.split(i, [None, LANES])[1])
    sch.parallel(ci)
    # V = (B^T d) B per (channel, 4 tiles): d, T and V in registers, every alpha loop unrolled
    vb = block(prefix + "V")
    e, u, ci, p = sch.get_loops(vb)
    po, pi = sch.split(p, [None, LANES])
    sch.reorder(ci, po, e, u, pi)
    sch.vectorize(pi)
    sch.unroll(e)
    sch.unroll(u)
    sch.parallel(ci)
    for name in ("T", "d"):
        blk = block(prefix + name)
        sch.compute_at(blk, po)
        sch.set_scope(blk, 0, "local")
        *outer, lane = sch.get_loops(blk)[-3:]
        sch.vectorize(lane)
        for lp in outer:
            sch.unroll(lp)
    _schedule_gemm(sch, prefix, v, block)
    # Y = A^T (M A) per (output channel, 4 tiles): Z in registers
    ob = block(prefix + "out")
    o, i, j, p = sch.get_loops(ob)
    po, pi = sch.split(p, [None, LANES])
    sch.reorder(o, po, i, j, pi)
    sch.vectorize(pi)
    sch.unroll(i)
    sch.unroll(j)
    sch.parallel(o)
    zb = block(prefix + "Z")
    sch.compute_at(zb, po)
    sch.set_scope(zb, 0, "local")
    s, j, lane = sch.get_loops(zb)[-3:]
    sch.vectorize(lane)
    sch.unroll(s)
    sch.unroll(j)
    # the output stage (epilogue inlined): v128 over output columns, the tile-major values gathered
    b, o, yy, xx = sch.get_loops(block(prefix + "y"))
    if g["ow"] % LANES == 0:
        sch.vectorize(sch.split(xx, [None, LANES])[1])
    sch.parallel(sch.fuse(b, o))


def _schedule_gemm(sch, prefix, v, block) -> None:
    """The GEMMs: an M tile (T channels x NV vectors of tiles) accumulated in registers over the channels."""
    T, NV = v.T, v.NV
    mb, ab = block(prefix + "buf"), block(prefix + "acc")
    e, u, o, p = sch.get_loops(mb)
    ko, ki = sch.split(o, [None, T])
    go, gv, gl = sch.split(p, [None, NV, LANES])
    sch.reorder(e, u, ko, go, ki, gv, gl)
    sch.vectorize(gl)
    sch.unroll(ki)
    sch.unroll(gv)
    sch.parallel(sch.fuse(e, u))  # alpha x alpha independent GEMMs
    sch.compute_at(ab, go)
    sch.set_scope(ab, 0, "local")
    al = sch.get_loops(ab)
    # below go: ki, (gv: absent when NV = 1, compute_at drops unit loops), lane; the channel reduction last
    nsp = (2 if T > 1 else 1) + (1 if NV > 1 else 0)
    rc, sp = al[-1], al[-1 - nsp : -1]
    sch.reorder(rc, *sp)
    sch.vectorize(sp[-1])
    for lp in sp[:-1]:
        sch.unroll(lp)
    sch.decompose_reduction(ab, rc)

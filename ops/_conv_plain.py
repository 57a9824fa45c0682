"""The "plain" static-shape conv of whole graphs: grouped, depthwise, dilated or anisotropic-stride convs.

Direct computation over a zero-padded copy of the input, per (image, output channel) on the thread pool, one
output row at a time; `Variant.NV` > 0 accumulates each row in 4 * NV-column v128 tiles (a tuning decision,
kernels/tune/conv_space.py), 0 leaves the scalar loops to LLVM. Used by ops/_conv_static.py.
"""

from __future__ import annotations

import tvm
from tvm import te

LANES = 4


def plain(x, w, x_shape, w_shape, stride, pads, dilation, groups, epi, prefix):
    """y = epi(conv(x, w)) as TE stages <prefix>xq (padded input), <prefix>acc and <prefix>y; w in OIHW."""
    n, c, h, ww = (int(s) for s in x_shape)
    k, cg, kh, kw = (int(s) for s in w_shape)
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = stride, dilation, pads
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (ww + pl + pr - dw * (kw - 1) - 1) // sw + 1
    zero = tvm.tirx.const(0.0, "float32")
    xp = te.compute(
        (n, c, h + pt + pb, ww + pl + pr),
        lambda b, ch, yy, xx: te.if_then_else(
            tvm.tirx.all(yy >= pt, yy < h + pt, xx >= pl, xx < ww + pl),
            x[b, ch, te.max(te.min(yy - pt, h - 1), 0), te.max(te.min(xx - pl, ww - 1), 0)],
            zero,
        ),
        name=prefix + "xq",
    )
    rc, rr, rq = te.reduce_axis((0, cg), "rc"), te.reduce_axis((0, kh), "rr"), te.reduce_axis((0, kw), "rq")
    kg = k // groups
    acc = te.compute(
        (n, k, oh, ow),
        lambda b, o, yy, xx: te.sum(
            w[o, rc, rr, rq] * xp[b, (o // kg) * cg + rc, yy * sh + rr * dh, xx * sw + rq * dw], axis=[rc, rr, rq]
        ),
        name=prefix + "acc",
    )
    return te.compute((n, k, oh, ow), lambda b, o, yy, xx: epi(acc[b, o, yy, xx], b, o, yy, xx), name=prefix + "y")


def schedule_plain(sch, y_blk, acc_blk, xq_blk, v) -> None:
    """Grouped / depthwise / dilated convs: per (image, channel) on the thread pool, one output row at a time.
    NV > 0: the row's accumulators in 4 * NV-column v128 tiles, the taps outside the lanes (when the output
    width is a multiple of 4 * NV); NV = 0: scalar."""
    b, o, yy, xx = sch.get_loops(y_blk)
    nr = LANES * v.NV
    ow = int(sch.get(xx).extent)
    if not (nr and ow % nr == 0):
        sch.compute_at(acc_blk, xx)
        sch.parallel(sch.fuse(b, o))
    else:
        sch.vectorize(sch.split(xx, [None, LANES])[1])
        sch.compute_at(acc_blk, yy)
        sch.set_scope(acc_blk, 0, "local")
        own = sch.get_loops(acc_blk)[3:]  # below b, o, yy: the row's columns, then the taps (extent-1 dropped)
        xo, xv, xl = sch.split(own[0], [None, v.NV, LANES])
        sch.reorder(xo, *own[1:], xv, xl)
        sch.vectorize(xl)
        sch.unroll(xv)
        sch.parallel(sch.fuse(b, o))  # before decompose_reduction: parallel() rejects the split-off init
        if len(own) > 1:
            sch.decompose_reduction(acc_blk, own[1])
    if xq_blk is not None:
        sch.parallel(sch.fuse(*sch.get_loops(xq_blk)[:2]))

"""conv2d's gradients: conv2d_backward_data (dx) and conv2d_backward_weight (dw), NCHW / OIHW like conv2d.

* dx is the transposed convolution of dy with the same weight (conv_transpose2d's layout (C_in, C_out / g,
  KH, KW) read with the forward's K as its C_in is exactly conv2d's (K, C / g, KH, KW)), with the
  output_padding that restores the input size: it runs conv_transpose2d's plan (conv2d's kernels, sub-pixel
  phases for strides), so the weight must be a host array, as there.
* dw is a GEMM per group: rows the output channels, columns the (c, r, s) taps, reduced over every
  (image, output pixel): dw[k, c, r, s] = sum dy[n, k, oy, ox] * x[n, g(k) * C/g + c, oy*sh + r*dh - pt,
  ox*sw + s*dw - pl]. dy is packed in MR-row panels, x's patches in NR-column panels (the im2col of x,
  transposed; a small host table gives each column's channel and tap offsets, so the pack divides
  nothing), and conv2d's register-tiled microkernel schedule (ops/_tiled.py) runs the tiles.
  The patch pack holds C * KH * KW * N * OH * OW floats, like conv2d's own im2col kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._tile_sizes import NR
from .spec import INT, PREV, TENSOR, Call, Kernel, Op, TensorRef


def _build_weight():
    import tvm
    from tvm import te

    from ._tiled import MR, NR, schedule_tiled
    from .simd_schedules import dims, prim_func

    n, c, h, w, k, oh, ow, g, kg, q, qt = dims("n", "c", "h", "w", "k", "oh", "ow", "g", "kg", "q", "qt")
    sh, sw = te.var("sh", "int32"), te.var("sw", "int32")
    x = te.placeholder((n, c, h, w), "float32", name="x")
    dy = te.placeholder((n, k, oh, ow), "float32", name="dy")
    # per tap column q: (channel in the group or -1 past the last, r * dh - pt, s * dw - pl), made on the
    # host (tap_table): the pack then needs no division or modulo per element
    taps = te.placeholder((3, qt), "int32", name="taps")  # qt = qp, NR-padded
    zero = tvm.tirx.const(0.0, "float32")
    cg = te.indexdiv(c, g)
    kgp, qp = (kg + MR - 1) // MR * MR, (q + NR - 1) // NR * NR
    dyp = te.compute(
        (g, kgp // MR, n, oh, ow, MR),
        lambda gg, ko, b, oy, ox, ki: te.if_then_else(
            ko * MR + ki < kg, dy[b, gg * kg + te.min(ko * MR + ki, kg - 1), oy, ox], zero
        ),
        name="dyp",
    )

    def patch(gg, b, qq, oy, ox):
        ch, iy, ix = taps[0, qq], oy * sh + taps[1, qq], ox * sw + taps[2, qq]
        ok = tvm.tirx.all(ch >= 0, iy >= 0, iy < h, ix >= 0, ix < w)
        return te.if_then_else(ok, x[b, gg * cg + ch, iy, ix], zero)

    col = te.compute(
        (g, n, qp // NR, oh, ow, NR), lambda gg, b, jo, oy, ox, ji: patch(gg, b, jo * NR + ji, oy, ox), name="col"
    )
    rb, ry, rx = te.reduce_axis((0, n), "rb"), te.reduce_axis((0, oh), "ry"), te.reduce_axis((0, ow), "rx")
    acc = te.compute(
        (g, kgp, qp),
        lambda gg, o, qq: te.sum(
            dyp[gg, o // MR, rb, ry, rx, o % MR] * col[gg, rb, qq // NR, ry, rx, qq % NR], axis=[rb, ry, rx]
        ),
        name="acc",
    )
    out = te.compute((g, kg, q), lambda gg, o, qq: acc[gg, o, qq], name="y")
    func = prim_func([x, dy, taps, out, sh, sw])
    return schedule_tiled(func, "y", "acc", 1, 2, packs=("col", "dyp"), panels_outer=True)


def _build_weight_depthwise():
    """Depthwise dw (one input channel per group, any multiplier): per (channel, tap) a dot product of dy
    with the input the tap saw, over images and output pixels, as 16 lane-partial sums along the output
    row, a scalar tail, then the lanes. x is zero-padded once (a pack), so the hot loop has no bounds
    check; the GEMM kernel would pad each channel's 1 x KH*KW problem to a 2 x 16 tile."""
    import tvm
    from tvm import te

    from .simd_schedules import dims, prim_func

    vec = 16
    n, c, h, w, k, oh, ow, kh, kw = dims("n", "c", "h", "w", "k", "oh", "ow", "kh", "kw")
    sh, sw, pt, pl, dh, dw = (te.var(v, "int32") for v in ("sh", "sw", "pt", "pl", "dh", "dw"))
    x = te.placeholder((n, c, h, w), "float32", name="x")
    dy = te.placeholder((n, k, oh, ow), "float32", name="dy")
    zero = tvm.tirx.const(0.0, "float32")
    hp, wp = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    xp = te.compute(
        (n, c, hp, wp),
        lambda b, ch, i, j: te.if_then_else(
            tvm.tirx.all(i >= pt, i < h + pt, j >= pl, j < w + pl), x[b, ch, i - pt, j - pl], zero
        ),
        name="xp",
    )
    mult = te.indexdiv(k, c)
    full = ow // vec

    def term(o, r, s, b, oy, ox):
        return dy[b, o, oy, ox] * xp[b, te.indexdiv(o, mult), oy * sh + r * dh, ox * sw + s * dw]

    b, oy, oxo = te.reduce_axis((0, n), "b"), te.reduce_axis((0, oh), "oy"), te.reduce_axis((0, full), "oxo")
    part = te.compute(
        (k, kh, kw, vec),
        lambda o, r, s, lane: te.sum(term(o, r, s, b, oy, oxo * vec + lane), axis=[b, oy, oxo]),
        name="part",
    )
    bt, oyt, t = te.reduce_axis((0, n), "bt"), te.reduce_axis((0, oh), "oyt"), te.reduce_axis((0, ow - full * vec), "t")
    tail = te.compute(
        (k, kh, kw), lambda o, r, s: te.sum(term(o, r, s, bt, oyt, full * vec + t), axis=[bt, oyt, t]), name="tail"
    )
    lane = te.reduce_axis((0, vec), "lane")
    lanes = te.compute((k, kh, kw), lambda o, r, s: te.sum(part[o, r, s, lane], axis=lane), name="lanes")
    out = te.compute((k, 1, kh, kw), lambda o, _, r, s: lanes[o, r, s] + tail[o, r, s], name="y")
    sch = tvm.s_tir.Schedule(prim_func([x, dy, out, sh, sw, pt, pl, dh, dw]))
    blk = sch.get_sblock("part")
    o, r, s, ln, rb, ry, rx = sch.get_loops(blk)
    sch.reorder(o, r, s, rb, ry, rx, ln)
    sch.vectorize(ln)
    sch.parallel(o)  # before decompose_reduction, whose update block the parallel check refuses
    sch.decompose_reduction(blk, rb)
    tail_blk = sch.get_sblock("tail")
    sch.decompose_reduction(tail_blk, sch.get_loops(tail_blk)[3])
    return sch.mod["main"]


def tap_table(cg: int, kh: int, kw: int, pads: tuple[int, int], dilations: tuple[int, int]) -> np.ndarray:
    """(3, Q rounded up to NR) int32: each weight column's (channel in group, r * dh - pt, s * dw - pl)."""
    q = cg * kh * kw
    table = np.full((3, -(-q // NR) * NR), -1, np.int32)
    ch, r, s = np.unravel_index(np.arange(q), (cg, kh, kw))
    table[0, :q], table[1, :q], table[2, :q] = ch, r * dilations[0] - pads[0], s * dilations[1] - pads[1]
    return table


def _build_data():
    """dx as a GEMM per image and group: rows the input channels of the group, columns the input pixels,
    reduced over the (k, r, s) taps: dx[n, c, y, x] = sum w[k, c, r, s] * dy[n, k, (y + pt - r*dh) / sh,
    (x + pl - s*dw) / sw] where both divide exactly and land in dy. The pack gathers those dy values once
    (the transposed im2col) through small host tables (data_tables), so it divides nothing; the weight is
    read as it is, so it may live in wasm memory (graphs)."""
    import tvm
    from tvm import te

    from ._tiled import MR, NR, schedule_tiled
    from .simd_schedules import dims, prim_func

    n, k, oh, ow, cg, kh, kw, g, pix = dims("n", "k", "oh", "ow", "cg", "kh", "kw", "g", "pix")
    h, w, ppt, qt, th, tw = dims("h", "w", "ppt", "qt", "th", "tw")
    dy = te.placeholder((n, k, oh, ow), "float32", name="dy")
    wt = te.placeholder((k, cg, kh, kw), "float32", name="w")
    pixels = te.placeholder((2, ppt), "int32", name="pixels")  # (y, x) of each column, NR-padded
    taps = te.placeholder((3, qt), "int32", name="taps")  # (k in group, r, s) of each reduction step
    rows = te.placeholder((h, th), "int32", name="rows")  # rows[y, r]: the dy row that tap r reads, or -1
    cols = te.placeholder((w, tw), "int32", name="cols")  # cols[x, s]: likewise for columns
    zero = tvm.tirx.const(0.0, "float32")
    kg = te.indexdiv(k, g)
    q = kg * kh * kw
    cgp, pp = (cg + MR - 1) // MR * MR, (pix + NR - 1) // NR * NR
    wp = te.compute(
        (g, cgp // MR, q, MR),
        lambda gg, co, qq, ci: te.if_then_else(
            co * MR + ci < cg, wt[gg * kg + taps[0, qq], te.min(co * MR + ci, cg - 1), taps[1, qq], taps[2, qq]], zero
        ),
        name="wp",
    )

    def tap(b, gg, qq, p):
        oy, ox = rows[pixels[0, p], taps[1, qq]], cols[pixels[1, p], taps[2, qq]]
        ok = tvm.tirx.all(p < pix, oy >= 0, ox >= 0)
        return te.if_then_else(ok, dy[b, gg * kg + taps[0, qq], oy, ox], zero)

    col = te.compute((n, g, pp // NR, q, NR), lambda b, gg, jo, qq, ji: tap(b, gg, qq, jo * NR + ji), name="col")
    rq = te.reduce_axis((0, q), "rq")
    acc = te.compute(
        (n, g, cgp, pp),
        lambda b, gg, c, p: te.sum(wp[gg, c // MR, rq, c % MR] * col[b, gg, p // NR, rq, p % NR], axis=rq),
        name="acc",
    )
    out = te.compute((n, g, cg, pix), lambda b, gg, c, p: acc[b, gg, c, p], name="y")
    func = prim_func([dy, wt, pixels, taps, rows, cols, out])
    return schedule_tiled(func, "y", "acc", 2, 3, packs=("col", "wp"))


def data_tables(
    hw: tuple[int, int],
    k: tuple[int, int],
    kg: int,
    s: tuple[int, int],
    p: tuple[int, int],
    d: tuple[int, int],
    out: tuple[int, int],
) -> list[np.ndarray]:
    """The int32 tables of f32_conv2d_backward_data: pixels (2, HW rounded up to NR), taps (3, KG*KH*KW),
    rows (H, KH), cols (W, KW)."""
    (h, w), (kh, kw) = hw, k
    pixels = np.zeros((2, -(-h * w // NR) * NR), np.int32)
    pixels[0, : h * w], pixels[1, : h * w] = np.divmod(np.arange(h * w), w)
    taps = np.stack(np.unravel_index(np.arange(kg * kh * kw), (kg, kh, kw))).astype(np.int32)

    def windows(size, kk, ss, dd, before, o):
        t = np.arange(size)[:, None] + before - np.arange(kk)[None, :] * dd  # (size, kk): stride * window
        ok = (t >= 0) & (t % ss == 0) & (t // ss < o)
        return np.where(ok, t // ss, -1).astype(np.int32)

    return [pixels, taps, windows(h, kh, s[0], d[0], p[0], out[0]), windows(w, kw, s[1], d[1], p[1], out[1])]


def _geometry(op: Op, strides, pads, dilations) -> tuple[tuple[int, int], tuple[int, ...], tuple[int, int]]:
    s = op.ints(strides, 2, "strides", minimum=1)
    d = op.ints(dilations, 2, "dilations", minimum=1)
    if isinstance(pads, int | np.integer):
        pads = (int(pads),) * 4
    pads = tuple(pads)
    if len(pads) == 2:
        pads = pads * 2
    p = op.ints(pads, 4, "pads (an int, (pad_h, pad_w) or (top, left, bottom, right))", minimum=0)
    return s, p, d


def _groups(op: Op, groups) -> int:
    if not isinstance(groups, int | np.integer) or isinstance(groups, bool) or groups < 1:
        raise op.fail(f"groups must be a positive int, got {groups!r}")
    return int(groups)


def _out_size(size: int, k: int, s: int, d: int, before: int, after: int) -> int:
    return (size + before + after - d * (k - 1) - 1) // s + 1


def _forward_ref():
    from . import all_ops

    return all_ops()["conv2d"]


class Conv2dBackwardData(Op):
    name = "conv2d_backward_data"
    uses = ("conv_transpose2d",)

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_conv2d_backward_data", _build_data, (TENSOR,) * 7)]

    def reference(self, dy, w, input_shape, strides=1, pads=0, dilations=1, groups=1, gemm=False) -> np.ndarray:
        """The adjoint of conv2d's reference, tap by tap: dx[window of (oy, ox)] += w^T dy[oy, ox]."""
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = _geometry(self, strides, pads, dilations)
        dy, w = np.asarray(dy, np.float64), np.asarray(w, np.float64)
        n, c, h, wd = input_shape
        k, cg, kh, kw = w.shape
        oh, ow = dy.shape[2:]
        dxp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
        kg = k // groups
        for gi in range(groups):
            dyg, wg = dy[:, gi * kg : (gi + 1) * kg], w[gi * kg : (gi + 1) * kg]
            for r in range(kh):
                for s in range(kw):
                    tap = np.einsum("nkhw,kc->nchw", dyg, wg[:, :, r, s])
                    dxp[:, gi * cg : (gi + 1) * cg, r * dh : r * dh + sh * (oh - 1) + 1 : sh,
                        s * dw : s * dw + sw * (ow - 1) + 1 : sw] += tap  # fmt: skip
        return dxp[:, :, pt : pt + h, pl : pl + wd].astype(np.float32)

    def plan(
        self,
        dy: np.ndarray,
        w: np.ndarray,
        input_shape: Sequence[int],
        strides: int | tuple[int, int] = 1,
        pads: int | tuple[int, ...] = 0,
        dilations: int | tuple[int, int] = 1,
        groups: int = 1,
        gemm: bool = False,
    ) -> Call | list[Call]:
        """dx of conv2d(x, w, stride=strides, padding=pads, dilation=dilations, groups=groups).

        dy: (N, K, OH, OW) float32, the gradient of conv2d's output; w: (K, C // groups, KH, KW), a host
        array; input_shape: x's shape (N, C, H, W). pads: int, (h, w) or (top, left, bottom, right).
        Returns dx, float32 input_shape.
        """
        dy = self.tensor(dy, "dy", ndim=4)
        w = self.tensor(w, "w", ndim=4)
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = _geometry(self, strides, pads, dilations)
        groups = _groups(self, groups)
        n, c, h, wd = self.ints(tuple(input_shape), 4, "input_shape", minimum=1)
        k, cg, kh, kw = w.shape
        if cg * groups != c or k % groups:
            raise self.fail(f"w {w.shape} with groups={groups} does not fit input_shape {tuple(input_shape)}")
        oh, ow = _out_size(h, kh, sh, dh, pt, pb), _out_size(wd, kw, sw, dw, pl, pr)
        if dy.shape != (n, k, oh, ow):
            raise self.fail(f"dy has shape {dy.shape}; the forward's output is {(n, k, oh, ow)}")
        if isinstance(w, TensorRef) or gemm:
            tables = data_tables((h, wd), (kh, kw), k // groups, (sh, sw), (pt, pl), (dh, dw), (oh, ow))
            gemm_call = Call("f32_conv2d_backward_data", [dy, w, *tables], (n, groups, cg, h * wd), np.float32)
            # the GEMM multiplies the weight by 0 where a tap misses dy: an inf / NaN weight makes that NaN, so
            # conv_transpose2d's fix-up re-sums NaN outputs over the real taps (one pass when none is NaN)
            zero = np.zeros(c, np.float32)
            scalars = (sh, sw, dh, dw, pt, pl, groups)
            fixup = Call("f32_conv_transpose2d_fixup_grouped", [PREV, dy, w, zero], (n, c, h, wd), np.float32, scalars)
            return [gemm_call, fixup]
        extra = (h + pt + pb - dh * (kh - 1) - 1 - (oh - 1) * sh, wd + pl + pr - dw * (kw - 1) - 1 - (ow - 1) * sw)
        from . import all_ops

        return all_ops()["conv_transpose2d"].plan(dy, w, None, (sh, sw), (pt, pl, pb, pr), extra, (dh, dw), groups)


class Conv2dBackwardWeight(Op):
    name = "conv2d_backward_weight"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_conv2d_backward_weight", _build_weight, (TENSOR,) * 4 + (INT,) * 2),
            Kernel("f32_conv2d_backward_weight_depthwise", _build_weight_depthwise, (TENSOR,) * 3 + (INT,) * 6),
        ]

    def reference(self, x, dy, kernel_shape, strides=1, pads=0, dilations=1, groups=1) -> np.ndarray:
        """Tap by tap: dw[:, :, r, s] = sum over images and pixels of dy ⊗ the input the tap saw."""
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = _geometry(self, strides, pads, dilations)
        x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
        k, oh, ow = dy.shape[1:]
        kh, kw = tuple(kernel_shape)[-2:]
        cg = x.shape[1] // groups
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        out = np.zeros((k, cg, kh, kw))
        kg = k // groups
        for gi in range(groups):
            xs, dys = xp[:, gi * cg : (gi + 1) * cg], dy[:, gi * kg : (gi + 1) * kg]
            for r in range(kh):
                for s in range(kw):
                    patch = xs[:, :, r * dh : r * dh + sh * (oh - 1) + 1 : sh, s * dw : s * dw + sw * (ow - 1) + 1 : sw]
                    out[gi * kg : (gi + 1) * kg, :, r, s] = np.einsum("nchw,nkhw->kc", patch, dys)
        return out.astype(np.float32)

    def plan(
        self,
        x: np.ndarray,
        dy: np.ndarray,
        kernel_shape: Sequence[int],
        strides: int | tuple[int, int] = 1,
        pads: int | tuple[int, ...] = 0,
        dilations: int | tuple[int, int] = 1,
        groups: int = 1,
    ) -> Call:
        """dw of conv2d(x, w, stride=strides, padding=pads, dilation=dilations, groups=groups).

        x: (N, C, H, W) float32, the forward's input; dy: (N, K, OH, OW), the gradient of its output;
        kernel_shape: w's shape (K, C // groups, KH, KW) or just (KH, KW). Depthwise is groups == C.
        Returns dw, float32 (K, C // groups, KH, KW).
        """
        x = self.tensor(x, "x", ndim=4)
        dy = self.tensor(dy, "dy", ndim=4)
        (sh, sw), (pt, pl, pb, pr), (dh, dw) = _geometry(self, strides, pads, dilations)
        groups = _groups(self, groups)
        n, c, h, wd = x.shape
        k = dy.shape[1]
        shape = tuple(kernel_shape)
        if len(shape) not in (2, 4):
            raise self.fail(f"kernel_shape must be (K, C // groups, KH, KW) or (KH, KW), got {kernel_shape!r}")
        kh, kw = self.ints(shape[-2:], 2, "kernel_shape (KH, KW)", minimum=1)
        if c % groups or k % groups:
            raise self.fail(f"groups={groups} must divide x's channels ({c}) and dy's channels ({k})")
        if len(shape) == 4 and shape[:2] != (k, c // groups):
            raise self.fail(f"kernel_shape {shape} does not fit dy's {k} channels and x's {c} / {groups} groups")
        oh, ow = _out_size(h, kh, sh, dh, pt, pb), _out_size(wd, kw, sw, dw, pl, pr)
        if oh < 1 or ow < 1:
            raise self.fail(f"kernel {kh}x{kw} (dilation {dh}x{dw}) is larger than the padded input")
        if dy.shape != (n, k, oh, ow):
            raise self.fail(f"dy has shape {dy.shape}; the forward's output is {(n, k, oh, ow)}")
        cg = c // groups
        if cg == 1 and groups == c:  # depthwise, any channel multiplier
            return Call(
                "f32_conv2d_backward_weight_depthwise", [x, dy], (k, 1, kh, kw), np.float32, (sh, sw, pt, pl, dh, dw)
            )
        return Call(
            "f32_conv2d_backward_weight",
            [x, dy, tap_table(cg, kh, kw, (pt, pl), (dh, dw))],
            (groups, k // groups, cg * kh * kw),
            np.float32,
            (sh, sw),
            (k, cg, kh, kw),
        )


OPS = [Conv2dBackwardData(), Conv2dBackwardWeight()]

"""conv2d: 2-D convolution, NCHW input, OIHW weight (PyTorch / ONNX layout), with stride, asymmetric padding,
dilation, groups (depthwise included) and an optional bias.

Kernel: direct convolution, register-tiled over (output channels x output columns) as in ops/_tiled.py.
The input is first copied into a zero-padded buffer, wide enough that every tile reads in bounds and
stored by column phase (x % stride, x // stride), so the hot loop is branch-free and its input reads are
contiguous vector loads for any stride. Variants: `_s1` fixes the column stride to 1 (the phase dim
vanishes); `_depthwise` (one input channel per group) tiles output rows instead of channels; `_grouped`
serves other groups > 1; the generic kernel any other conv.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ._tile_sizes import MR, TILES, tiled
from .spec import INT, TENSOR, Call, Kernel, Op, packs_constant

# outputs narrower than this waste too many lanes of a 16-wide row tile: use the im2col GEMM instead
IM2COL_BELOW_WIDTH = 16


def _phase_padded(x, rows, cols, sw, pt, pl):
    """x zero-padded and stored by column phase: column c of the padded image lands at [c % sw, c // sw].

    Output column xx then reads phase (rs*dw) % sw at xx + (rs*dw) // sw: contiguous in xx for every
    stride, so the hot loop does vector loads even for strided convs (a plain layout would gather)."""
    import tvm
    from tvm import te

    n, c, h, w = x.shape
    zero = tvm.tirx.const(0.0, "float32")
    return te.compute(
        (n, c, rows, sw, cols),
        lambda b, ch, y, ph, xq: te.if_then_else(
            tvm.tirx.all(y >= pt, y < h + pt, xq * sw + ph >= pl, xq * sw + ph < w + pl),
            x[b, ch, y - pt, xq * sw + ph - pl],
            zero,
        ),
        name="xp",
    )


def _packed_row(ko, o, rows: int):
    """Row `o` of a weight packed in MR-row panels (`ko` of them), for a kernel tiled `rows` rows: clamped to
    the last packed row when `rows` does not divide the host's padding (the extra rows are never stored)."""
    from tvm import te

    return o if rows == MR else te.min(o, ko * MR - 1)


def _build(unit_stride_w: bool, grouped: bool, packed: bool = False, tile=None):
    import tvm
    from tvm import te

    from ._tiled import HAND, schedule_tiled
    from .simd_schedules import dims, prim_func

    tile = tile or HAND
    TR, NR = tile.rows, tile.cols  # noqa: N806 - the tile, named as in ops/_tiled.py

    n, c, h, w, k, cg, kh, kw, oh, ow = dims("n", "c", "h", "w", "k", "cg", "kh", "kw", "oh", "ow")
    sh, pt, pl, dh, dw, groups = (te.var(s, "int32") for s in ("sh", "pt", "pl", "dh", "dw", "groups"))
    sw = tvm.tirx.const(1, "int32") if unit_stride_w else te.var("sw", "int32")
    x = te.placeholder((n, c, h, w), "float32", name="x")
    bias = te.placeholder((k,), "float32", name="bias")
    zero = tvm.tirx.const(0.0, "float32")
    owp = (ow + NR - 1) // NR * NR
    kp = (k + TR - 1) // TR * TR
    if packed:  # packed on the host once (pack_direct): (K / MR, KH, KW, CG, MR)
        ko = te.var("ko", "int32")
        wt = wp = te.placeholder((ko, kh, kw, cg, MR), "float32", name="wp")

        def weight(o, r, s, i):
            o = _packed_row(ko, o, TR)
            return wp[o // MR, r, s, i, o % MR]
    else:
        wt = te.placeholder((k, cg, kh, kw), "float32", name="wt")
        wp = te.compute(
            (kp // TR, kh, kw, cg, TR),
            lambda ko, r, s, i, ki: te.if_then_else(ko * TR + ki < k, wt[ko * TR + ki, i, r, s], zero),
            name="wp",
        )

        def weight(o, r, s, i):
            return wp[o // TR, r, s, i, o % TR]

    hp = (oh - 1) * sh + (kh - 1) * dh + 1
    xp = _phase_padded(x, hp, owp + (kw - 1) * dw // sw, sw, pt, pl)
    kg = te.indexdiv(k, groups)
    ri, rr, rs = te.reduce_axis((0, cg), "ri"), te.reduce_axis((0, kh), "rr"), te.reduce_axis((0, kw), "rs")

    def in_channel(o):
        # grouped: each output channel reads its own group; dense convs skip the division so both rows of a
        # tile share one input row (half the loads in the hot loop)
        return te.indexdiv(te.min(o, k - 1), kg) * cg + ri if grouped else ri

    acc = te.compute(
        (n, kp, oh, owp),
        lambda b, o, y, xx: te.sum(
            weight(o, rr, rs, ri) * xp[b, in_channel(o), y * sh + rr * dh, rs * dw % sw, xx + rs * dw // sw],
            axis=[rr, rs, ri],
        ),  # channels innermost: the longest loop
        name="acc",
    )
    y = te.compute((n, k, oh, ow), lambda b, o, yy, xx: acc[b, o, yy, xx] + bias[o], name="y")
    scalars = [sh] + ([] if unit_stride_w else [sw]) + [pt, pl, dh, dw] + ([groups] if grouped else [])
    packs = ("xp",) if packed else ("xp", "wp")
    # output-column panels outside the channel tiles: a panel's input window is read by every channel tile
    # while in cache (ResNet-50's 3x3: 6-20 % faster, measured side by side; the GEMM kernels gained nothing)
    func = prim_func([x, wt, bias, y, *scalars])
    return schedule_tiled(func, "y", "acc", 1, 3, packs=packs, panels_outer=True, tile=tile)


def _build_depthwise():
    """Depthwise (one input channel per group, any channel multiplier): a channel's output tiled MR rows x
    NR columns, each tile reducing over just KH x KW taps. The grouped kernel would tile MR *channels* and
    leave half its rows idle (each channel has its own input), so this one tiles output rows instead;
    weights are read as they are (KH * KW floats a channel: nothing worth packing)."""
    from tvm import te

    from ._tiled import MR, NR, schedule_tiled
    from .simd_schedules import dims, prim_func

    n, c, h, w, k, kh, kw, oh, ow = dims("n", "c", "h", "w", "k", "kh", "kw", "oh", "ow")
    sh, sw, pt, pl, dh, dw = (te.var(s, "int32") for s in ("sh", "sw", "pt", "pl", "dh", "dw"))
    x = te.placeholder((n, c, h, w), "float32", name="x")
    wt = te.placeholder((k, 1, kh, kw), "float32", name="wt")
    bias = te.placeholder((k,), "float32", name="bias")
    ohp, owp = (oh + MR - 1) // MR * MR, (ow + NR - 1) // NR * NR
    mult = te.indexdiv(k, c)  # output channels per input channel
    # rows cover the MR-padded output rows, so the tile's last rows read zeros, not out of bounds
    xp = _phase_padded(x, (ohp - 1) * sh + (kh - 1) * dh + 1, owp + (kw - 1) * dw // sw, sw, pt, pl)
    rr, rs = te.reduce_axis((0, kh), "rr"), te.reduce_axis((0, kw), "rs")
    acc = te.compute(
        (n, k, ohp, owp),
        lambda b, o, yy, xx: te.sum(
            wt[o, 0, rr, rs] * xp[b, te.indexdiv(o, mult), yy * sh + rr * dh, rs * dw % sw, xx + rs * dw // sw],
            axis=[rr, rs],
        ),
        name="acc",
    )
    y = te.compute((n, k, oh, ow), lambda b, o, yy, xx: acc[b, o, yy, xx] + bias[o], name="y")
    return schedule_tiled(prim_func([x, wt, bias, y, sh, sw, pt, pl, dh, dw]), "y", "acc", 2, 3, packs=("xp",))


def _build_im2col(pointwise: bool = False, packed: bool = False, tile=None):
    """GEMM over packed columns: for small outputs (late layers) and 1x1 convs, where tiling output rows
    16 columns wide would waste lanes. Columns are output pixels (flattened), rows output channels; the
    pack gathers each pixel's receptive field once, which costs 1 / (2 * K) of the multiply-adds.
    `pointwise` (1x1, stride 1, no padding) takes x as (N, C, H*W): the columns are x itself. `packed`
    takes the weight already packed on the host (pack_rows), with the kernel size as scalars."""
    import tvm
    from tvm import te

    from ._tiled import HAND, schedule_tiled
    from .simd_schedules import dims, prim_func

    tile = tile or HAND
    TR, NR = tile.rows, tile.cols  # noqa: N806 - the tile, named as in ops/_tiled.py
    n, c, h, w, k, kh, kw, oh, ow, ko = dims("n", "c", "h", "w", "k", "kh", "kw", "oh", "ow", "ko")
    sh, sw, pt, pl, dh, dw = (te.var(s, "int32") for s in ("sh", "sw", "pt", "pl", "dh", "dw"))
    zero = tvm.tirx.const(0.0, "float32")
    if pointwise:
        x = te.placeholder((n, c, h), "float32", name="x")  # h = pixels
        wt = te.placeholder((k, c), "float32", name="wt")
        q, pix = c, h

        def gather(b, p, qq):
            return te.if_then_else(p < pix, x[b, qq, p], zero)

        def weight(o, qq):
            return wt[o, qq]
    else:
        x = te.placeholder((n, c, h, w), "float32", name="x")
        wt = te.placeholder((k, c, kh, kw), "float32", name="wt")
        q, pix = c * kh * kw, oh * ow

        def gather(b, p, qq):
            oy, ox = p // ow, p % ow
            ch, r, s = qq // (kh * kw), qq // kw % kh, qq % kw
            iy, ix = oy * sh + r * dh - pt, ox * sw + s * dw - pl
            ok = tvm.tirx.all(p < pix, iy >= 0, iy < h, ix >= 0, ix < w)
            return te.if_then_else(ok, x[b, ch, iy, ix], zero)

        def weight(o, qq):
            return wt[o, qq // (kh * kw), qq // kw % kh, qq % kw]

    bias = te.placeholder((k,), "float32", name="bias")
    po, kp = (pix + NR - 1) // NR, (k + TR - 1) // TR * TR
    col = te.compute((n, po, q, NR), lambda b, jo, qq, ji: gather(b, jo * NR + ji, qq), name="col")
    if packed:  # (K / MR, Q, MR), packed on the host once
        q = c if pointwise else te.var("q", "int32")
        wt = wp = te.placeholder((ko, q, MR), "float32", name="wp")

        def row(o, qq):
            o = _packed_row(ko, o, TR)
            return wp[o // MR, qq, o % MR]
    else:
        wp = te.compute(
            (kp // TR, q, TR),
            lambda o, qq, ki: te.if_then_else(o * TR + ki < k, weight(o * TR + ki, qq), zero),
            name="wp",
        )

        def row(o, qq):
            return wp[o // TR, qq, o % TR]

    rq = te.reduce_axis((0, q), "rq")
    acc = te.compute(
        (n, kp, po * NR),
        lambda b, o, p: te.sum(row(o, rq) * col[b, p // NR, rq, p % NR], axis=rq),
        name="acc",
    )
    y = te.compute((n, k, pix), lambda b, o, p: acc[b, o, p] + bias[o], name="y")
    scalars = [] if pointwise else [oh, ow, sh, sw, pt, pl, dh, dw] + ([kh, kw] if packed else [])
    packs = ("col",) if packed else ("col", "wp")
    return schedule_tiled(prim_func([x, wt, bias, y, *scalars]), "y", "acc", 1, 2, packs=packs, tile=tile)


def _pads(op: Op, padding, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, (ph, pw), (top, left, bottom, right), 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":  # stride 1 only (checked by the caller); extra pad goes bottom/right like ONNX
            th, tw = ((kk - 1) * d for kk, d in zip(kernel, dilation, strict=True))
            return (th // 2, tw // 2, th - th // 2, tw - tw // 2)
        raise op.fail(f"padding must be 'valid', 'same', an int or a tuple, got {padding!r}")
    if isinstance(padding, int | np.integer):
        return (int(padding),) * 4
    pads = tuple(padding)
    if len(pads) == 2:
        pads = pads * 2
    return op.ints(pads, 4, "padding", minimum=0)


class Conv2d(Op):
    name = "conv2d"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_conv2d_nchw", partial(_build, False, False), (TENSOR,) * 4 + (INT,) * 6, TILES),
            Kernel("f32_conv2d_nchw_s1", partial(_build, True, False), (TENSOR,) * 4 + (INT,) * 5, TILES),
            Kernel("f32_conv2d_nchw_grouped", lambda: _build(False, True), (TENSOR,) * 4 + (INT,) * 7),
            Kernel("f32_conv2d_nchw_im2col", _build_im2col, (TENSOR,) * 4 + (INT,) * 8, TILES),
            Kernel("f32_conv2d_nchw_1x1", partial(_build_im2col, True), (TENSOR,) * 4, TILES),
            Kernel("f32_conv2d_nchw_depthwise", _build_depthwise, (TENSOR,) * 4 + (INT,) * 6),
            # the same with the weight packed once on the host (graphs: constant weights)
            Kernel("f32_conv2d_nchw_packed", partial(_build, False, False, True), (TENSOR,) * 4 + (INT,) * 6, TILES),
            Kernel("f32_conv2d_nchw_s1_packed", partial(_build, True, False, True), (TENSOR,) * 4 + (INT,) * 5, TILES),
            Kernel("f32_conv2d_nchw_grouped_packed", lambda: _build(False, True, True), (TENSOR,) * 4 + (INT,) * 7),
            Kernel(
                "f32_conv2d_nchw_im2col_packed", partial(_build_im2col, False, True), (TENSOR,) * 4 + (INT,) * 10, TILES
            ),
            Kernel("f32_conv2d_nchw_1x1_packed", partial(_build_im2col, True, True), (TENSOR,) * 4, TILES),
        ]

    def reference(self, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
        x, weight = np.asarray(x, np.float64), np.asarray(weight, np.float64)
        sh, sw = self.ints(stride, 2, "stride")
        dh, dw = self.ints(dilation, 2, "dilation")
        pt, pl, pb, pr = _pads(self, padding, weight.shape[2:], (dh, dw))
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        n, c, h, w = xp.shape
        k, cg, kh, kw = weight.shape
        oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
        out = np.zeros((n, k, oh, ow))
        kg = k // groups
        for g in range(groups):
            xs = xp[:, g * cg : (g + 1) * cg]
            ws = weight[g * kg : (g + 1) * kg]
            for r in range(kh):
                for s in range(kw):
                    patch = xs[:, :, r * dh : r * dh + sh * (oh - 1) + 1 : sh, s * dw : s * dw + sw * (ow - 1) + 1 : sw]
                    out[:, g * kg : (g + 1) * kg] += np.einsum("nchw,kc->nkhw", patch, ws[:, :, r, s])
        if bias is not None:
            out += np.asarray(bias, np.float64)[None, :, None, None]
        return out.astype(np.float32)

    def plan(
        self,
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None = None,
        stride: int | tuple[int, int] = 1,
        padding: int | str | tuple[int, ...] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ) -> Call:
        """2-D convolution (cross-correlation, as in every DL framework), NCHW.

        x: (N, C, H, W) float32; weight: (K, C // groups, KH, KW); bias: (K,) or None.
        stride, dilation: int or (h, w), >= 1. padding: int, (h, w), (top, left, bottom, right),
        'valid' or 'same' (stride 1). groups divides C and K (groups == C == K is depthwise).
        Returns (N, K, OH, OW) with OH = (H + top + bottom - dilation_h * (KH - 1) - 1) // stride_h + 1.
        """
        x = self.tensor(x, "x", ndim=4)
        weight = self.tensor(weight, "weight", ndim=4)
        n, c, h, w = x.shape
        k, cg, kh, kw = weight.shape
        sh, sw = self.ints(stride, 2, "stride", minimum=1)
        dh, dw = self.ints(dilation, 2, "dilation", minimum=1)
        if not isinstance(groups, int | np.integer) or groups < 1:
            raise self.fail(f"groups must be a positive int, got {groups!r}")
        if c % groups or k % groups:
            raise self.fail(f"groups={groups} must divide both input channels ({c}) and output channels ({k})")
        if cg * groups != c:
            raise self.fail(
                f"weight has {cg} input channels per group; x has {c} channels / {groups} groups = {c // groups}"
            )
        if padding == "same" and (sh, sw) != (1, 1):
            raise self.fail("padding='same' needs stride 1")
        pt, pl, pb, pr = _pads(self, padding, (kh, kw), (dh, dw))
        oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise self.fail(
                f"kernel {kh}x{kw} (dilation {dh}x{dw}) is larger than the padded input {h + pt + pb}x{w + pl + pr}"
            )
        bias = self.bias(bias, k)
        out = (n, k, oh, ow)
        packed = packs_constant(weight)
        suffix = "_packed" if packed else ""
        if groups == 1 and (kh, kw, sh, sw, pt, pl, pb, pr) == (1, 1, 1, 1, 0, 0, 0, 0):
            wt = pack_rows(weight.reshape(k, c)) if packed else weight.reshape(k, c)
            return Call(
                tiled(f"f32_conv2d_nchw_1x1{suffix}", k, oh * ow),
                [x.reshape(n, c, h * w), wt, bias],
                (n, k, oh * ow),
                np.float32,
                result_shape=out,
            )
        if groups == 1 and (ow < IM2COL_BELOW_WIDTH or (kh, kw) == (1, 1)):
            wt, extra = (pack_rows(weight.reshape(k, -1)), (kh, kw)) if packed else (weight, ())
            return Call(
                tiled(f"f32_conv2d_nchw_im2col{suffix}", k, oh * ow),
                [x, wt, bias],
                (n, k, oh * ow),
                np.float32,
                (oh, ow, sh, sw, pt, pl, dh, dw, *extra),
                result_shape=out,
            )
        if cg == 1 and groups == c:  # depthwise, with any channel multiplier
            return Call("f32_conv2d_nchw_depthwise", [x, weight, bias], out, np.float32, (sh, sw, pt, pl, dh, dw))
        args = [x, pack_direct(weight) if packed else weight, bias]
        if groups > 1:
            return Call(f"f32_conv2d_nchw_grouped{suffix}", args, out, np.float32, (sh, sw, pt, pl, dh, dw, groups))
        if sw == 1:
            return Call(tiled(f"f32_conv2d_nchw_s1{suffix}", k, ow), args, out, np.float32, (sh, pt, pl, dh, dw))
        return Call(tiled(f"f32_conv2d_nchw{suffix}", k, ow), args, out, np.float32, (sh, sw, pt, pl, dh, dw))


def _pad_rows(w: np.ndarray) -> np.ndarray:
    """Zero rows up to a multiple of MR, as the kernels' own pack stage does."""
    k = w.shape[0]
    padded = np.zeros((-(-k // MR) * MR,) + w.shape[1:], np.float32)
    padded[:k] = w
    return padded


def pack_rows(w2: np.ndarray) -> np.ndarray:
    """(K, Q) -> (K / MR, Q, MR): the weight layout of the GEMM kernels (im2col, 1x1, dense-like)."""
    p = _pad_rows(w2)
    return np.ascontiguousarray(p.reshape(p.shape[0] // MR, MR, p.shape[1]).transpose(0, 2, 1))


def pack_direct(w: np.ndarray) -> np.ndarray:
    """(K, CG, KH, KW) -> (K / MR, KH, KW, CG, MR): the weight layout of the direct kernels."""
    p = _pad_rows(w)
    return np.ascontiguousarray(p.reshape(p.shape[0] // MR, MR, *p.shape[1:]).transpose(0, 3, 4, 2, 1))


OPS = [Conv2d()]

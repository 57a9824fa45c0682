"""Static-shape fp32 conv2d (batch 1, NCHW in / NCHW out) for wasm32 SIMD128 + relaxed FMA, TVM 0.27.

Every shape is a compile-time constant and the weight is a constant packed once in numpy (pack_weight).

Stages (TE names = block names; `prefix` defaults to "conv_", pass a distinct prefix per conv when one PrimFunc
holds several convs):
  <prefix>xq   the input copied into zero-padded, stride-phase-split, row-flattened planes
               (N, C, phases, L); absent for 1x1 stride-1 unpadded convs whose pixel count is a multiple of the
               8-pixel tile (x is then read in place)
  <prefix>acc  the reduction. Register tile: T=4 output channels x NR=8 output pixels = 8 v128 accumulators
  <prefix>buf  the finished accumulators of one 4-channel slab over the whole pixel grid (a plain copy; inlined
               away by the channel-blocked schedule, kc > 0)
  <prefix>y    NCHW output, y[n, k, oh, ow] = epilogue(acc, n, k, oh, ow)
Winograd F(m x m, 3 x 3) ("winograd" variants, its own stages) lives in ops/_conv_winograd.py; WINOGRAD (the
default m, 0 = off) is read from this module by choose().

"grid" layout: output pixel (oh, ow) lives at grid index g = oh * Wq + ow, Wq being the row pitch of the padded
(and, for stride s, phase-split) input planes, so tap (r, q) reads plane (r % s, q % s) at g + (r // s) * Wq +
q // s: one contiguous v128 load per 4 pixels for every tap and stride (stride 2 included). Grid columns
ow >= OW are computed and dropped (3.5% extra at 56x56, 7% at 28, 14% at 14, 30% at 7x7).
Weights are packed with every scalar replicated over the 4 lanes, (K/T, C, KH, KW, T, 4) or, for the
"tapfirst" reduction order, (K/T, KH, KW, C, T, 4): the hot loop then has plain v128 loads only (Cranelift
turns v128.load32_splat into a scalar load + vmovd + vpbroadcastd, 3 uops).

Usage inside a whole-graph PrimFunc:
    v = choose(x_shape, w_shape, stride, pads, dilation, groups)
    wp_np = pack_weight(w_np, x_shape, stride, pads, dilation, groups)          # constant, any layout is free
    wp = te.placeholder(packed_shape(w_shape, v), "float32", name="wp")        # (or a constant buffer)
    y = conv_compute(x, wp, x_shape, w_shape, stride, pads, dilation, epilogue, groups=groups, prefix="c1_")
    ... te.create_prim_func([...]) ; sch = tvm.s_tir.Schedule(func)
    schedule_conv(sch, "c1_y", x_shape, w_shape, stride, pads, dilation, groups, prefix="c1_")
The epilogue is called as epilogue(value, n, k, oh, ow) -> PrimExpr (e.g. relu(value * scale[k] + shift[k])).
Workspace: conv_xq is a global buffer and conv_acc/conv_buf are "local" slabs of 4 * G floats (G = OH * Wq
rounded up to 8; 206 KB for the stem); TVM allocates the big ones through TVMBackendAllocWorkspace (the
project's wasm_support.c provides it).

`python conv_static.py` benchmarks every conv of ResNet-50 (needs wasmtime + ziglang; the old generic
kernels are measured too when `wasmops` imports).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tvm
from tvm import te

from . import _conv_plain as _cp
from . import _conv_winograd as _wg
from ._conv_winograd import LANES, WINOGRAD

#: (A, B, G) of F(m x m, 3 x 3): graph_packing builds U = G g G^T from it at load time
_winograd_matrices = _wg.winograd_matrices


@dataclass(frozen=True)
class Variant:
    kind: str = "grid"  # "grid" | "im2col" | "plain" (groups > 1, dilation > 1, sh != sw: correct, not fast)
    T: int = 4  # output channels per register tile
    NV: int = 2  # v128 pixel vectors per register tile (NR = 4 * NV pixels)
    order: str = "cfirst"  # reduction order: "cfirst" (c, kh, kw) or "tapfirst" (kh, kw, c)
    unroll_taps: int = 0  # tap loops unrolled (0, 1 = kw, 2 = kh and kw); LLVM then hoists loads -> spills
    inplace: bool = True  # 1x1 s1 p0: read x directly when the pixel count is a multiple of NR
    cu: int = 1  # unroll of the channel loop (> 1 spills under Cranelift: keep 1)
    kc: int = 0  # > 0: block the channel reduction by kc outside the pixel tiles
    m: int = 2  # winograd: output tile F(m x m, 3 x 3)
    splat: bool = False  # weights stored once and broadcast by the load, not replicated over the lanes
    xtile: bool = False  # 1x1 / im2col: the input copied pixel tile by pixel tile (each step's 4*NV pixels adjacent)


def _pads4(pads):
    pads = tuple(int(p) for p in (pads if isinstance(pads, (tuple, list)) else (pads,)))
    return pads * 4 if len(pads) == 1 else pads * 2 if len(pads) == 2 else pads


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _geom(x_shape, w_shape, stride, pads, v):
    n, c, h, w = (int(s) for s in x_shape)
    k, cg, kh, kw = (int(s) for s in w_shape)
    s = _pair(stride)[0]
    pt, pl, pb, pr = _pads4(pads)
    oh = (h + pt + pb - (kh - 1) - 1) // s + 1
    ow = (w + pl + pr - (kw - 1) - 1) // s + 1
    NR = LANES * v.NV
    kp = -(-k // v.T) * v.T
    common = dict(n=n, c=c, h=h, w=w, k=k, s=s, pt=pt, pl=pl, oh=oh, ow=ow, kp=kp, NR=NR)
    if v.kind == "im2col":  # one "row" of columns: the taps folded into the channels
        G = -(-(oh * ow) // NR) * NR
        cols = dict(cg=cg * kh * kw, kh=1, kw=1, KH=kh, KW=kw, hq=oh, wq=ow, G=G, L=G, phy=1, phx=1, inplace=False)
        return {**common, **cols}
    hq, wq = -(-(h + pt + pb) // s), -(-(w + pl + pr) // s)
    G = -(-(oh * wq) // NR) * NR
    L = max(hq * wq, G + ((kh - 1) // s) * wq + (kw - 1) // s)
    inplace = v.inplace and not v.xtile and kh == kw == 1 and s == 1 and not any((pt, pl, pb, pr)) and G == h * w
    return dict(common, cg=cg, kh=kh, kw=kw, hq=hq, wq=wq, G=G, L=L, phy=min(s, kh), phx=min(s, kw), inplace=inplace)


def choose(x_shape, w_shape, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1) -> Variant:
    """The variant for one conv. Measured (ResNet-50, wasmtime 50, relaxed-simd deterministic FMA):
    4x8 tiles beat every larger tile (Cranelift ties the FMA destination to a multiplicand, so each FMA needs
    a spare register; 12-accumulator tiles spill). 3x3 stride 1 (>= 16 channels): Winograd; else on >= 14x14:
    grid, tapfirst, channels blocked by 32 (weight chunk in L1); 3x3 stride 2 and 7x7 outputs: im2col columns
    + channel blocking by 128; small outputs read their input copied pixel tile by pixel tile. `wasmops tune`
    searches past these per shape (kernels/tune/conv_space.py)."""
    sh, sw = _pair(stride)
    if groups != 1 or _pair(dilation) != (1, 1) or sh != sw:
        return Variant(kind="plain", T=1, NV=0)  # scalar: LLVM's loops beat v128 rows as often as not
    k, cg, kh, kw = (int(s) for s in w_shape)
    g = _geom(x_shape, w_shape, stride, pads, Variant())
    if WINOGRAD and kh == kw == 3 and sh == 1 and int(x_shape[0]) == 1 and cg >= 16:
        # F(4x4) once the outputs hold enough 4x4 tiles to fill the 8-lane pixel tile (measured: 30 % faster
        # at 56x56, 15-20 % at 28x28, a tie at 14x14, slower at 7x7); WINOGRAD set to another m forces it
        m = 4 if WINOGRAD == 2 and g["oh"] * g["ow"] >= 400 else WINOGRAD
        # 7x7 outputs: a few pixel tiles per weight, whose replicated copies cost more bytes than they save
        # uops (ResNet-50's 3x3 512 at 7x7: 5.8 ms splatted, 8.2 ms replicated, cold, one thread)
        return Variant(kind="winograd", T=4, NV=2, m=m, splat=g["oh"] * g["ow"] <= 49 and cg >= 256)
    pixels = g["oh"] * g["ow"]
    if kh == kw == 1:  # small pixel grids (7x7 outputs): the input copied tile by tile, channels blocked
        # (ResNet-50's 1x1 convs at 7x7, cold, one thread: 13-15 % faster tiled; a tie at 14x14 and above)
        return Variant(kind="grid", T=4, NV=2, kc=128 if pixels <= 64 and cg % 128 == 0 else 0, xtile=pixels <= 64)
    if cg >= 16 and (sh > 1 or g["ow"] <= 7):  # strided / tiny 3x3: im2col columns (grid wastes lanes)
        # columns tile by tile up to 14x14 outputs (ResNet-50's strided 3x3: 27 % faster at 7x7, 8 % at 14x14,
        # 13 % slower at 28x28, where the copy's reads scatter over a larger input)
        return Variant(kind="im2col", T=4, NV=2, kc=128 if cg * kh * kw % 128 == 0 else 0, xtile=pixels <= 196)
    if cg % 32 == 0:
        return Variant(kind="grid", T=4, NV=2, order="tapfirst", kc=32)
    return Variant(kind="grid", T=4, NV=2, order="tapfirst")


def packed_shape(w_shape, variant) -> tuple:
    k, cg, kh, kw = (int(s) for s in w_shape)
    if variant.kind == "plain":
        return (k, cg, kh, kw)
    if variant.kind == "winograd":
        return _wg.packed_shape(w_shape, variant)
    ko, lanes = -(-k // variant.T), weight_lanes(variant)
    if variant.kind == "im2col":
        return (ko, cg * kh * kw, 1, 1, variant.T, lanes)
    if variant.order == "tapfirst":
        return (ko, kh, kw, cg, variant.T, lanes)
    return (ko, cg, kh, kw, variant.T, lanes)


def weight_lanes(variant) -> int:
    """Copies of each weight scalar in the packed layout: 4 (a plain v128 load in the hot loop) or 1 (splat)."""
    return 1 if variant.splat else LANES


def pack_weight(w, x_shape, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1, variant=None):
    """OIHW float32 weight -> the layout conv_compute reads (numpy, at compile time)."""
    w = np.asarray(w, np.float32)
    v = variant or choose(x_shape, w.shape, stride, pads, dilation, groups)
    if v.kind == "plain":
        return np.ascontiguousarray(w)
    if v.kind == "winograd":  # U = G g G^T per (k, c), then (alpha, alpha, K/T, C, T, lanes)
        return _lanes(_wg.transform_weight(w, v), v)
    if v.kind == "im2col":
        w = w.reshape(w.shape[0], -1, 1, 1)
    k, cg, kh, kw = w.shape
    T = v.T
    kp = -(-k // T) * T
    wq = np.zeros((kp, cg, kh, kw), np.float32)
    wq[:k] = w
    wt = wq.reshape(kp // T, T, cg, kh, kw)
    wt = wt.transpose(0, 3, 4, 2, 1) if v.order == "tapfirst" else wt.transpose(0, 2, 3, 4, 1)
    return _lanes(wt, v)


def _lanes(w: np.ndarray, v: Variant) -> np.ndarray:
    """Every weight replicated over the 4 lanes: the hot loop then does plain v128 loads (a load32_splat is
    3 uops under Cranelift). 4x the bytes (ResNet-50: 486 MB instead of 100 MB) for measured speed: one
    ResNet-50 run, best of 7, gave 392 ms replicated everywhere, 450 ms above 14x14 only, 553 ms nowhere."""
    return np.ascontiguousarray(np.broadcast_to(w[..., None], w.shape + (weight_lanes(v),)))


def conv_compute(
    x,
    wp,
    x_shape,
    w_shape,
    stride=(1, 1),
    pads=(0, 0, 0, 0),
    dilation=(1, 1),
    epilogue=None,
    groups=1,
    variant=None,
    prefix="conv_",
):
    """y = epilogue(conv(x, w)) as TE stages; wp is the packed weight (packed_shape). Returns y (N, K, OH, OW)."""
    v = variant or choose(x_shape, w_shape, stride, pads, dilation, groups)
    epi = epilogue or (lambda val, b, o, yy, xx: val)
    zero = tvm.tirx.const(0.0, "float32")
    if v.kind == "plain":
        return _cp.plain(x, wp, x_shape, w_shape, _pair(stride), _pads4(pads), _pair(dilation), groups, epi, prefix)
    if v.kind == "winograd":
        return _wg.winograd(x, wp, x_shape, w_shape, _pads4(pads), epi, prefix, v)
    g = _geom(x_shape, w_shape, stride, pads, v)
    s, wq, hq, T = g["s"], g["wq"], g["hq"], v.T
    h, w, pt, pl = g["h"], g["w"], g["pt"], g["pl"]

    def clamp_x(b, c, iy, ix):  # clamped so that a select evaluating both sides stays in bounds
        return x[b, c, te.max(te.min(iy, h - 1), 0), te.max(te.min(ix, w - 1), 0)]

    if v.kind == "im2col":  # columns (c, r, q) x output pixels
        KH, KW, oh_, ow_ = g["KH"], g["KW"], g["oh"], g["ow"]

        def col(b, cc, ph, i):
            c_, r, q = cc // (KH * KW), cc // KW % KH, cc % KW
            iy, ix = (i // ow_) * s + r - pt, (i % ow_) * s + q - pl
            ok = tvm.tirx.all(i < oh_ * ow_, iy >= 0, iy < h, ix >= 0, ix < w)
            return te.if_then_else(ok, clamp_x(b, c_, iy, ix), zero)

        xq = _xq(g, v, col, prefix)
    elif not g["inplace"]:

        def fill(b, c, ph, i):
            py, px = ph // g["phx"], ph % g["phx"]
            iy, ix = (i // wq) * s + py - pt, (i % wq) * s + px - pl
            ok = tvm.tirx.all(i < hq * wq, iy >= 0, iy < h, ix >= 0, ix < w)
            return te.if_then_else(ok, clamp_x(b, c, iy, ix), zero)

        xq = _xq(g, v, fill, prefix)

    def xin(b, c, ph, i):
        if g["inplace"]:
            return x[b, c, i // w, i % w]
        return xq[b, i // g["NR"], c, i % g["NR"]] if v.xtile else xq[b, c, ph, i]

    kh, kw = g["kh"], g["kw"]
    rc = te.reduce_axis((0, g["cg"]), "rc")
    rr = te.reduce_axis((0, kh), "rr")
    rq = te.reduce_axis((0, kw), "rq")
    axes = [rc] + ([rr] if kh > 1 else []) + ([rq] if kw > 1 else [])
    if v.order == "tapfirst":
        axes = axes[1:] + axes[:1]
    r_ = rr if kh > 1 else 0
    q_ = rq if kw > 1 else 0

    def body(b, ko, ki, gi, lane):
        ph = (r_ % s) * g["phx"] + (q_ % s) if s > 1 else 0
        wl = 0 if v.splat else lane
        wv = wp[ko, r_, q_, rc, ki, wl] if v.order == "tapfirst" else wp[ko, rc, r_, q_, ki, wl]
        return wv * xin(b, rc, ph, gi * LANES + lane + (r_ // s) * wq + (q_ // s))

    acc = te.compute(
        (g["n"], g["kp"] // T, T, g["G"] // LANES, LANES),
        lambda b, ko, ki, gi, lane: te.sum(body(b, ko, ki, gi, lane), axis=axes),
        name=prefix + "acc",
    )
    buf = te.compute(
        (g["n"], g["kp"], g["G"]), lambda b, o, gg: acc[b, o // T, o % T, gg // LANES, gg % LANES], name=prefix + "buf"
    )
    return te.compute(
        (g["n"], g["k"], g["oh"], g["ow"]),
        lambda b, o, yy, xx: epi(buf[b, o, yy * wq + xx], b, o, yy, xx),
        name=prefix + "y",
    )


def _xq(g, v, value, prefix):
    """The copied input: (N, C, phases, L) planes, or with `xtile` (N, G / NR, C, NR): the NR pixels of each
    register tile adjacent for every channel, so the reduction reads one contiguous run per tile instead
    of a row per channel (a 1x1 or im2col conv only: a 3x3 tap would shift the pixels across tiles)."""
    if not v.xtile:
        return te.compute((g["n"], g["cg"], g["phy"] * g["phx"], g["L"]), value, name=prefix + "xq")
    if g["kh"] > 1 or g["kw"] > 1:
        raise ValueError(f"xtile needs a 1x1 or im2col conv, not {g['kh']}x{g['kw']} taps")
    nr = g["NR"]
    shape = (g["n"], g["G"] // nr, g["cg"], nr)
    return te.compute(shape, lambda b, t, c, j: value(b, c, 0, t * nr + j), name=prefix + "xq")


def _block(sch, name, func_name):
    try:
        return sch.get_sblock(name, func_name=func_name) if func_name else sch.get_sblock(name)
    except Exception:  # the stage does not exist (xq for in-place 1x1, buf once inlined)
        return None


def schedule_conv(
    sch,
    y_block_name=None,
    x_shape=None,
    w_shape=None,
    stride=(1, 1),
    pads=(0, 0, 0, 0),
    dilation=(1, 1),
    groups=1,
    variant=None,
    prefix="conv_",
    func_name=None,
):
    """Schedule the conv's own stages (<prefix>xq/acc/buf/y) inside `sch`; other blocks are not touched.
    Must see the same shapes/variant as conv_compute. Returns the variant used."""
    v = variant or choose(x_shape, w_shape, stride, pads, dilation, groups)
    y_blk = _block(sch, y_block_name or prefix + "y", func_name)
    acc_blk = _block(sch, prefix + "acc", func_name)
    xq_blk = _block(sch, prefix + "xq", func_name)
    if v.kind == "plain":
        _cp.schedule_plain(sch, y_blk, acc_blk, xq_blk, v)
        return v
    if v.kind == "winograd":
        _wg.schedule_winograd(sch, prefix, x_shape, w_shape, _pads4(pads), v, lambda n: _block(sch, n, func_name))
        return v
    g = _geom(x_shape, w_shape, stride, pads, v)
    buf_blk = _block(sch, prefix + "buf", func_name)
    T, NV = v.T, v.NV
    b, o, yy, xx = sch.get_loops(y_blk)
    ko, _ = sch.split(o, [None, T])
    if g["ow"] % LANES == 0:  # epilogue/store stage: v128 over output columns
        sch.vectorize(sch.split(xx, [None, LANES])[1])
    ko = sch.fuse(b, ko)  # slabs of T output channels run on the thread pool
    sch.parallel(ko)
    nred = 1 + (g["kh"] > 1) + (g["kw"] > 1)
    if v.kc:
        _schedule_kc(sch, g, v, ko, acc_blk, buf_blk, nred)
    else:
        sch.compute_at(buf_blk, ko)
        sch.set_scope(buf_blk, 0, "local")
        bki, bg = sch.get_loops(buf_blk)[-2:]
        go, gv, gl = sch.split(bg, [None, NV, LANES])
        sch.reorder(go, bki, gv, gl)
        sch.vectorize(gl)
        sch.unroll(bki)
        if NV > 1:
            sch.unroll(gv)
        sch.compute_at(acc_blk, go)
        sch.set_scope(acc_blk, 0, "local")
        al = sch.get_loops(acc_blk)
        red = al[-nred:]
        sp = al[-nred - (3 if NV > 1 else 2) : -nred]  # ki, (gv), lane
        sch.reorder(*red, *sp)
        sch.vectorize(sp[-1])
        for lp in sp[:-1]:
            sch.unroll(lp)
        taps = red[1:] if v.order == "cfirst" else red[:-1]
        for t in taps[len(taps) - min(v.unroll_taps, len(taps)) :]:
            sch.unroll(t)
        first = red[0]
        ci = 0 if v.order == "cfirst" else nred - 1
        if v.cu > 1 and g["cg"] % v.cu == 0:
            rco, rci = sch.split(red[ci], [None, v.cu])
            sch.unroll(rci)
            first = rco if ci == 0 else first
        sch.decompose_reduction(acc_blk, first)
    if xq_blk is not None:
        sch.vectorize(sch.split(sch.get_loops(xq_blk)[-1], [None, LANES])[1])
        sch.parallel(sch.fuse(*sch.get_loops(xq_blk)[:2]))
    return v


def _schedule_kc(sch, g, v, ko, acc_blk, buf_blk, nred):
    """Channel-blocked: per T-channel slab, acc (T x G, in memory) takes kc channels at a time over every pixel
    tile, so the weight chunk (kc x taps x T x 16 B) stays in L1 while the pixel tiles sweep."""
    NV = v.NV
    sch.compute_inline(buf_blk)
    sch.compute_at(acc_blk, ko)
    sch.set_scope(acc_blk, 0, "local")
    al = sch.get_loops(acc_blk)
    red = list(al[-nred:])
    a_ki, a_g, a_l = al[-nred - 3 : -nred]
    go, gv = sch.split(a_g, [None, NV])
    ci = 0 if v.order == "cfirst" else nred - 1
    rco, rci = sch.split(red[ci], [None, v.kc])
    taps = [r for j, r in enumerate(red) if j != ci]
    if v.order == "cfirst":
        sch.reorder(rco, go, rci, *taps, a_ki, gv, a_l)
    else:
        sch.reorder(rco, go, *taps, rci, a_ki, gv, a_l)
    sch.vectorize(a_l)
    sch.unroll(a_ki)
    if NV > 1:
        sch.unroll(gv)
    for t in taps[len(taps) - min(v.unroll_taps, len(taps)) :]:
        sch.unroll(t)
    sch.decompose_reduction(acc_blk, rco)

"""Schedules for the fused kernels of a whole graph, and the legalisations that give them our computes.

Convolutions with constant weights are legalised to the op library's static-shape conv compute
(ops/_conv_static.py), weights packed at compile time; after FuseOps their bias / BN / residual / activation
epilogue is inlined into the conv's output stage, and the conv's own register-tiled schedule runs.
Matmuls with a constant 2-D weight read it packed into column panels (transformer projections, Gemm).
Every other fused kernel gets a generic rule: spatial producers inlined, the innermost contiguous loop
vectorised (reductions keep their reduction loops outside the vector lane loop).
"""

from __future__ import annotations

import math

import tvm
from tvm import relax, te, tirx, topi

from ..ops._tile_sizes import MR as TILE_ROWS
from ..ops._tile_sizes import NR as TILE_COLS  # the op library's register tile (8 v128 accumulators)
from ..ops.dense import pack_columns

LANES = 4
PARALLEL_WORK = 1 << 16  # loop iterations below which a parallel launch (~5-20 us) costs more than it saves
#: what a schedule primitive raises when it does not apply (ScheduleError) or its checks fail deeper
_SCHEDULE_ERRORS = (tvm.s_tir.ScheduleError, tvm.error.InternalError)


def legalize_map(convs: dict, packings=None, variants: dict | None = None) -> dict:
    """Relax op -> legalisation to our computes (anything not handled falls back to TVM's own).

    Besides convolutions: every op whose TVM legalisation calls libm (exp, log, pow, tanh, erf: wasm has
    no libm) gets the op library's libm-free expressions (ops/_fastmath.py, topi's fast_tanh / fast_erf).
    `packings` (kernels/graph_packing.Packings): where each packed constant records how it is made from its
    source weight, so the module ships the source weight and packs it at load. `variants`: conv
    configuration key -> the tuned Variant (kernels/tune/conv_records.py); other convs get the hand choice.
    """
    table = {
        "relax.exp": _elementwise(lambda fm, v: fm.exp(v)),
        "relax.log": _elementwise(lambda fm, v: fm.log(v)),
        "relax.tanh": _tensorwise(lambda t: topi.fast_tanh(t)),
        "relax.erf": _tensorwise(lambda t: topi.fast_erf(t)),
        "relax.sigmoid": _tensorwise(lambda t: _unary_op("sigmoid")(t)),
        "relax.power": _power,
        "relax.nn.softmax": _softmax(log=False),
        "relax.nn.log_softmax": _softmax(log=True),
    }
    from .graph_legalize_math import math_legalizations

    table.update(math_legalizations())
    from .graph_index_checks import index_check_legalizations

    table.update(index_check_legalizations())
    table["relax.nn.conv2d"] = lambda bb, call: _legalize_conv2d(bb, call, convs, packings, variants)
    table["relax.matmul"] = lambda bb, call: _legalize_matmul(bb, call, packings)
    return table


def _f32(expr) -> bool:
    return str(expr.ty.dtype) == "float32"


def _elementwise(fn):
    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        if not _f32(call.args[0]):
            return _default(bb, call)
        from ..ops import _fastmath as fm

        name = call.op.name.split(".")[-1]
        return bb.call_te(
            lambda t: te.compute(t.shape, lambda *i: fn(fm, t(*i)), name=f"T_{name}"),
            call.args[0],
            primfunc_name_hint=name,
        )

    return legalize


def _tensorwise(fn):
    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        if not _f32(call.args[0]):
            return _default(bb, call)
        return bb.call_te(fn, call.args[0], primfunc_name_hint=call.op.name.split(".")[-1])

    return legalize


def _unary_op(name: str):
    from ..ops import unary

    return next(row.te_expr for row in unary.ROWS if row.name == name)


def _power(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    a, b = call.args
    if not (_f32(a) and _f32(b)):
        return _default(bb, call)
    from ..ops import _fastmath as fm

    return bb.call_te(
        lambda x, y: _broadcast(x, y, fm.power, "T_power"),
        a,
        b,
        primfunc_name_hint="power",
    )


def _broadcast(x: te.Tensor, y: te.Tensor, fn, name: str) -> te.Tensor:
    nd = max(len(x.shape), len(y.shape))
    xs = [1] * (nd - len(x.shape)) + [int(d) for d in x.shape]
    ys = [1] * (nd - len(y.shape)) + [int(d) for d in y.shape]
    out = [max(p, q) for p, q in zip(xs, ys, strict=True)]

    def at(t, dims, idx):
        sub = [0 if d == 1 else i for d, i in zip(dims, idx, strict=True)][nd - len(t.shape) :]
        return t(*sub)

    return te.compute(out, lambda *i: fn(at(x, xs, i), at(y, ys, i)), name=name)


def _softmax(log: bool):
    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        x = call.args[0]
        if not _f32(x):
            return _default(bb, call)
        from ..ops import _fastmath as fm

        nd = len(x.ty.shape.values)
        ax = int(call.attrs.axis) % nd

        def compute(t):
            def red(i):
                return [0 if k == ax else i[k] for k in range(nd)]

            mx = topi.max(t, axis=ax, keepdims=True)
            e = te.compute(t.shape, lambda *i: fm.exp(t(*i) - mx(*red(i))), name="T_softmax_exp")
            s = topi.sum(e, axis=ax, keepdims=True)
            if log:
                return te.compute(t.shape, lambda *i: t(*i) - mx(*red(i)) - fm.log(s(*red(i))), name="T_log_softmax")
            return te.compute(t.shape, lambda *i: e(*i) / s(*red(i)), name="T_softmax_norm")

        return bb.call_te(compute, x, primfunc_name_hint="log_softmax" if log else "softmax")

    return legalize


def _default(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    return tvm.ir.Op.get(call.op.name).get_attr("FLegalize")(bb, call)


def _legalize_conv2d(
    bb: relax.BlockBuilder, call: relax.Call, convs: dict, packings=None, variants: dict | None = None
) -> relax.Expr:
    """A conv with a constant weight -> ops/_conv_static's compute, the weight packed now (numpy).

    Its stages are named by a prefix derived from the conv's configuration, recorded in `convs` so the
    scheduler finds them again inside the fused kernel (identical convs share one kernel)."""
    import hashlib

    from ..ops import _conv_static as cs

    x, w = call.args
    a = call.attrs
    if (
        not isinstance(w, tvm.ir.Constant)
        or (a.data_layout, a.kernel_layout, a.out_layout) != ("NCHW", "OIHW", "NCHW")
        or (a.out_dtype and str(a.out_dtype) not in ("", "float32"))
        or str(x.ty.dtype) != "float32"
        or len(x.ty.shape.values) != 4
        or int(x.ty.shape.values[2]) * int(x.ty.shape.values[3]) < 4  # a 1x1 map (a classifier): a GEMV
    ):
        return _default(bb, call)
    weight = w.value.numpy()
    config = (
        tuple(int(d) for d in x.ty.shape.values),
        tuple(weight.shape),
        tuple(int(s) for s in a.strides),
        tuple(int(p) for p in a.padding),  # (top, left, bottom, right)
        tuple(int(d) for d in a.dilation),
        int(a.groups),
    )
    from .tune.conv_space import config_key

    variant = (variants or {}).get(config_key(config)) or cs.choose(*config)
    prefix = "conv" + hashlib.sha1(repr((config, variant)).encode()).hexdigest()[:10] + "_"
    convs[prefix] = (config, variant)
    x_shape, w_shape, stride, pads, dilation, groups = config
    packed = cs.pack_weight(weight, x_shape, stride, pads, dilation, groups, variant)
    if packings is not None:
        from .graph_packing import register_conv

        register_conv(packings, weight, packed, variant)
    return bb.call_te(
        lambda xt, wt: cs.conv_compute(
            xt, wt, x_shape, w_shape, stride, pads, dilation, groups=groups, variant=variant, prefix=prefix
        ),
        x,
        relax.const(packed, "float32"),
        primfunc_name_hint="conv2d",
        primfunc_attrs={"op_pattern": 4},  # kOutEWiseFusable: FuseOps fuses the elementwise epilogue
    )


#: the block name of a matmul whose constant weight was packed into column panels (_legalize_matmul)
PACKED_MATMUL = "matmul_packed"


def _legalize_matmul(bb: relax.BlockBuilder, call: relax.Call, packings=None) -> relax.Expr:
    """x @ W with a constant 2-D W (transformer projections, Gemm) -> W packed now into TILE_COLS-wide
    column panels (N / TILE_COLS, K, TILE_COLS), as the op library's dense packs its weights.

    In W's own layout a register tile reads TILE_COLS floats from each of K rows N floats apart: with N a
    power-of-two multiple (768, 3072) those rows fall into a handful of cache sets and evict each other.
    A panel is one contiguous K x TILE_COLS block, reused by every row tile (see _tile_reduction)."""
    x, w = call.args
    xs, ws = x.ty.shape.values, w.ty.shape.values if isinstance(w, tvm.ir.Constant) else None
    out_dtype = str(call.attrs.out_dtype) if call.attrs.out_dtype else ""
    if (
        ws is None
        or len(ws) != 2
        or len(xs) < 2
        or not all(isinstance(d, tirx.IntImm) for d in xs)
        or str(x.ty.dtype) != "float32"
        or str(w.ty.dtype) != "float32"
        or out_dtype not in ("", "float32")
        or int(ws[1]) < TILE_COLS
    ):
        return _default(bb, call)
    weight = w.value.numpy()
    k, n = weight.shape
    packed = pack_columns(weight.T)  # dense's (N, K) weight layout is W transposed
    if packings is not None:
        from .graph_packing import register_matmul

        register_matmul(packings, weight, packed, TILE_COLS)

    def compute(xt: te.Tensor, wt: te.Tensor) -> te.Tensor:
        r = te.reduce_axis((0, k), "k")
        return te.compute(
            (*xt.shape[:-1], n),
            lambda *i: te.sum(xt[(*i[:-1], r)] * wt[i[-1] // TILE_COLS, r, i[-1] % TILE_COLS], axis=r),
            name=PACKED_MATMUL,
        )

    return bb.call_te(
        compute,
        x,
        relax.const(packed, "float32"),
        primfunc_name_hint="matmul",
        primfunc_attrs={"op_pattern": 4},  # kOutEWiseFusable: a bias / activation epilogue fuses
    )


# ------------------------------------------------------------------------------------------------------
def _block_names(sch: tvm.s_tir.Schedule) -> list[str]:
    return [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))]


def _conv_anchor(names: list[str], convs: dict) -> str | None:
    """The output stage (<prefix>y) of the conv, legalised to our compute, that a fused kernel holds."""
    return next((n for n in names if n.endswith("_y") and n[:-1] in convs), None)


def held_conv(func: tirx.PrimFunc, convs: dict) -> tuple | None:
    """(configuration, variant) of the conv a fused kernel holds (recorded in `convs` at legalisation)."""
    if not convs or not isinstance(func.body, tvm.s_tir.SBlockRealize):  # no blocks (a hand-written TIR loop)
        return None
    anchor = _conv_anchor(_block_names(tvm.s_tir.Schedule(func)), convs)
    return None if anchor is None else convs[anchor[:-1]]


def schedule(func: tirx.PrimFunc, convs: dict, fallbacks: list | None = None) -> tirx.PrimFunc:
    """A fused kernel scheduled for wasm SIMD: the conv's own schedule if it holds one of our convs
    (recorded in `convs` at legalisation), else the generic rule. If the conv schedule cannot take the
    fused epilogue, the epilogue is scheduled on its own; the reason is appended to `fallbacks`."""
    sch = tvm.s_tir.Schedule(func)
    names = _block_names(sch)
    anchor = _conv_anchor(names, convs)
    if anchor is None:
        _generic(sch, names)
        return sch.mod["main"]
    from ..ops import _conv_static as cs

    prefix = anchor[:-1]
    (x_shape, w_shape, stride, pads, dilation, groups), variant = convs[prefix]
    try:
        _inline_epilogue(sch, names, anchor)
        cs.schedule_conv(sch, anchor, x_shape, w_shape, stride, pads, dilation, groups, variant, prefix)
        return sch.mod["main"]
    except _SCHEDULE_ERRORS as exc:
        reason = str(exc).strip().splitlines()[-1]
    sch = tvm.s_tir.Schedule(func)
    try:
        cs.schedule_conv(sch, anchor, x_shape, w_shape, stride, pads, dilation, groups, variant, prefix)
        for name in names[names.index(anchor) + 1 :]:
            _generic_block(sch, name)
        what = "epilogue scheduled apart"
    except _SCHEDULE_ERRORS:  # the conv schedule does not fit this geometry: the generic rule, slow but right
        sch = tvm.s_tir.Schedule(func)
        _generic(sch, names)
        what = "generic schedule"
    if fallbacks is not None:
        fallbacks.append(f"{anchor} {x_shape}x{w_shape}: {what} ({reason[:160]})")
    return sch.mod["main"]


def _inline_epilogue(sch: tvm.s_tir.Schedule, names: list[str], anchor: str) -> None:
    """Fold the elementwise blocks after the conv's output stage into it, in order.

    Intermediate epilogue values are first inlined into their consumers, so an epilogue that reads the conv
    output twice (SiLU x * sigmoid(x), hard-swish, gates) becomes one block reading it at one index, which
    folds into the conv's output stage like a plain ReLU.
    """
    for name in _inline_intermediates(sch, names[names.index(anchor) + 1 :]):
        try:
            sch.reverse_compute_inline(sch.get_sblock(name))
        except _SCHEDULE_ERRORS:  # not an elementwise consumer of the conv: schedule it on its own
            _generic_block(sch, name)


def _is_spatial(sch: tvm.s_tir.Schedule, blk) -> bool:
    return all(iv.iter_type == tirx.IterVar.DataPar for iv in sch.get(blk).iter_vars)


def _inline_intermediates(sch: tvm.s_tir.Schedule, names: list[str]) -> list[str]:
    """Inline every spatial block of `names` that is not a function output into its consumers; the rest."""
    outputs = {sch.get(b).name_hint for b in sch.get_output_blocks(sch.get_sblock("root"))}
    kept = []
    for name in names:
        blk = sch.get_sblock(name)
        if _is_spatial(sch, blk) and name not in outputs:
            try:
                sch.compute_inline(blk)
                continue
            except _SCHEDULE_ERRORS:
                pass
        kept.append(name)
    return kept


def _generic(sch: tvm.s_tir.Schedule, names: list[str]) -> None:
    for name in _inline_intermediates(sch, names):
        _generic_block(sch, name)


def _extent(sch: tvm.s_tir.Schedule, loop) -> int | None:
    ext = sch.get(loop).extent
    return int(ext) if isinstance(ext, tirx.IntImm) else None


def _generic_block(sch: tvm.s_tir.Schedule, name: str) -> None:
    """Vectorise the innermost spatial loop by LANES when it divides evenly, and split big blocks' outer
    spatial loops over the thread pool; else leave the block to LLVM."""
    blk = sch.get_sblock(name)
    loops = list(sch.get_loops(blk))
    iters = sch.get(blk).iter_vars
    if not loops or len(loops) != len(iters):
        return
    spatial = [lp for lp, iv in zip(loops, iters, strict=True) if iv.iter_type == tirx.IterVar.DataPar]
    reduce = [lp for lp, iv in zip(loops, iters, strict=True) if iv.iter_type != tirx.IterVar.DataPar]
    work = math.prod(_extent(sch, lp) or 1 for lp in loops)
    try:
        if not reduce:
            fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
            ext = _extent(sch, fused)
            if ext and ext % LANES == 0 and ext >= LANES:
                outer, inner = sch.split(fused, [None, 4 * LANES if ext % (4 * LANES) == 0 else LANES])
                sch.vectorize(inner)
                if work >= PARALLEL_WORK:
                    sch.parallel(outer)
            return
        if loops[: len(spatial)] != spatial or not spatial:
            return
        ext = _extent(sch, spatial[-1])
        if not ext or ext % LANES or ext < LANES:  # not vectorisable (pools on odd widths): threads only
            if work >= PARALLEL_WORK and len(spatial) > 1:
                sch.parallel(sch.fuse(*spatial[:-1]))
            return
        rows = _extent(sch, spatial[-2]) if len(spatial) > 1 else None
        if ext % TILE_COLS == 0 and rows and (rows % TILE_ROWS == 0 or rows < TILE_ROWS) and len(reduce) == 1:
            _tile_reduction(sch, blk, spatial, reduce[0], work, panels_outer=name.startswith(PACKED_MATMUL))
            return
        outer, inner = sch.split(spatial[-1], [None, LANES])
        sch.reorder(outer, *reduce, inner)
        sch.vectorize(inner)
        if work >= PARALLEL_WORK:  # before decompose_reduction: parallel() rejects the split-off update block
            sch.parallel(sch.fuse(*spatial[:-1], outer) if len(spatial) > 1 else outer)
        sch.decompose_reduction(blk, reduce[0])
    except _SCHEDULE_ERRORS:
        return


def _tile_reduction(sch: tvm.s_tir.Schedule, blk, spatial: list, k, work: int, panels_outer: bool = False) -> None:
    """A matmul-like block (..., rows, cols) reduced over one axis: TILE_ROWS x TILE_COLS output tiles, the
    reduction outside the tile, so the tile's TILE_ROWS x TILE_COLS / LANES accumulators stay in registers
    (LLVM promotes them over the k loop) and each k step is broadcast x vector FMAs: the op library's
    microkernel shape (ops/_tiled.py) for the dense / matmul layers of transformers in whole graphs.
    `panels_outer` (packed weights): column panels outside the row tiles, so a panel stays in cache while
    every row tile reads it."""
    io, ii = sch.split(spatial[-2], [None, min(TILE_ROWS, _extent(sch, spatial[-2]))])  # 1 row: a GEMV
    jo, ji = sch.split(spatial[-1], [None, TILE_COLS])
    jv, jl = sch.split(ji, [None, LANES])
    tiles = [jo, io] if panels_outer else [io, jo]
    sch.reorder(*spatial[:-2], *tiles, k, ii, jv, jl)
    sch.vectorize(jl)
    sch.unroll(jv)
    sch.unroll(ii)
    if work >= PARALLEL_WORK:
        sch.parallel(sch.fuse(*spatial[:-2], *tiles))
    sch.decompose_reduction(blk, k)


__all__ = ["held_conv", "legalize_map", "schedule"]

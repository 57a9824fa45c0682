"""TE / s_tir helpers shared by op files: targets, elementwise SIMD schedules, the packed GEMM microkernel.

Imported only at build time (it imports TVM); op files import it inside their kernel builders.
"""

from __future__ import annotations

import tvm
from tvm import te

LANES = 4  # f32 lanes in one v128 register
VEC = 16  # elementwise loops are vectorised 4 registers wide (spec.BLOCK)


def wasm_target(relaxed: bool = False) -> tvm.target.Target:
    """wasm32 with SIMD128; the relaxed build also lets LLVM contract a*b+c into relaxed_madd (FMA)."""
    mattr = ["+simd128", "+bulk-memory", "+nontrapping-fptoint", "+sign-ext"]
    target = {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm", "mattr": mattr}
    if relaxed:
        mattr.append("+relaxed-simd")
        target["fast-math-contract"] = True
    return tvm.target.Target(target)


def dims(*names: str) -> list[tvm.tirx.Var]:
    """Symbolic int32 dimensions: one compiled kernel serves every shape."""
    return [te.var(n, "int32") for n in names]


def prim_func(args: list) -> tvm.tirx.PrimFunc:
    return te.create_prim_func(args)


def schedule_injective(func: tvm.tirx.PrimFunc) -> tvm.tirx.PrimFunc:
    """Inline every stage into the output and vectorise its innermost loop, which must be a whole block.

    Flat elementwise kernels see tensors as (blocks, BLOCK) (see spec.Call.blocked): the inner loop has a
    constant extent, so it vectorises with no per-element predicate (a predicated tail makes LLVM emit
    scalar code with a branch per element).
    """
    sch = tvm.s_tir.Schedule(func)
    *inner_blocks, out = sch.get_child_blocks(sch.get_sblock("root"))
    for blk in reversed(inner_blocks):
        sch.compute_inline(blk)
    sch.vectorize(sch.get_loops(out)[-1])
    return sch.mod["main"]


def schedule_rows(func: tvm.tirx.PrimFunc, blocks: list[str]) -> tvm.tirx.PrimFunc:
    """Vectorise the innermost loop of each named block (row-wise ops: softmax, norms, reductions)."""
    sch = tvm.s_tir.Schedule(func)
    for name in blocks:
        blk = sch.get_sblock(name)
        loops = sch.get_loops(blk)
        _, inner = sch.split(loops[-1], [None, VEC])
        sch.vectorize(inner)
    return sch.mod["main"]


def fast_log(x: te.Tensor | tvm.tirx.PrimExpr) -> tvm.tirx.PrimExpr:
    """float32 natural log without libm (wasm has none): exponent split + Cephes logf polynomial.

    Vectorises like any arithmetic; max relative error ~1e-7 on normal floats. log(0) = -inf,
    log(x<0) = nan, log(inf) = inf, as numpy.
    """
    f32 = "float32"
    bits = tvm.tirx.reinterpret("int32", x)
    e = ((bits >> 23) & 0xFF) - 126
    m = tvm.tirx.reinterpret(f32, (bits & 0x007FFFFF) | 0x3F000000)  # mantissa in [0.5, 1)
    small = m < tvm.tirx.const(0.70710678, f32)
    e = tvm.tirx.Select(small, e - 1, e).astype(f32)
    m = tvm.tirx.Select(small, m + m - 1.0, m - 1.0)
    z = m * m
    coeffs = [
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    ]
    y = tvm.tirx.const(coeffs[0], f32)
    for c in coeffs[1:]:
        y = y * m + tvm.tirx.const(c, f32)
    y = y * m * z
    y = y + tvm.tirx.const(-2.12194440e-4, f32) * e - 0.5 * z
    r = m + y + tvm.tirx.const(0.693359375, f32) * e
    inf = tvm.tirx.const(float("inf"), f32)
    r = tvm.tirx.Select(x == inf, inf, r)
    r = tvm.tirx.Select(x == tvm.tirx.const(0.0, f32), -inf, r)
    return tvm.tirx.Select(x < tvm.tirx.const(0.0, f32), tvm.tirx.const(float("nan"), f32), r)

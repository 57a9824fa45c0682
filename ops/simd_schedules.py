"""TE / s_tir helpers shared by op files: the wasm target, symbolic dims, the elementwise SIMD schedule.

Imported only at build time (it imports TVM); op files import it inside their kernel builders.
"""

from __future__ import annotations

import tvm
from tvm import te

VEC = 16  # elementwise loops are vectorised 4 registers wide (spec.BLOCK)


def wasm_target(relaxed: bool = False, fold_offsets: bool = False) -> tvm.target.Target:
    """wasm32 with SIMD128 and atomics (the module's memory is shared by a thread pool); the relaxed build
    also lets LLVM contract a*b+c into relaxed_madd (FMA). `fold_offsets`: for objects written by
    kernels/wasm_object.write_object (our convs): loop strength reduction off, so their loads keep the
    constant offsets the wasm backend then folds (one add fewer per load)."""
    mattr = ["+simd128", "+bulk-memory", "+atomics", "+nontrapping-fptoint", "+sign-ext"]
    target = {"kind": "llvm", "mtriple": "wasm32-unknown-unknown-wasm", "mattr": mattr, "vector-width": 128}
    if relaxed:
        mattr.append("+relaxed-simd")
        target["fast-math-contract"] = True
    if fold_offsets:
        target["cl-opt"] = ["-disable-lsr"]
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

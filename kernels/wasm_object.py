"""A static-shape TVM module written as a wasm32 object, its constant address offsets folded into the loads.

Why: LLVM's WebAssembly backend puts `base + C` into a load's offset immediate only when the add cannot
wrap, i.e. the GEP is `inbounds`. TVM's kernels reach code generation with their constant-offset GEPs
stripped of that flag (InstCombine splits an `or disjoint` index without it; loop strength reduction
rebuilds every address without it), so each v128 load came with its own `i32.add`, which Cranelift turns
into a `lea`: 7 of the 38 instructions of a 1x1 conv's hot loop, a loop bound by how many instructions
the core can issue. Every such GEP in a kernel of ours addresses the buffer its base points into (the
kernels index in bounds: the conformance suite and the tuner's numpy checks hold them to it), so it is
marked `inbounds nuw` here, and those kernels are generated with loop strength reduction off
(`wasm_target(fold_offsets=True)`), which then keeps the flags. Measured on ResNet-50's convs, one thread:
2-15 % faster each (1x1 256->1024 at 14x14: 3.21 -> 2.98 ms; stem 10.3 -> 8.8 ms).

Only conv kernels are built so (graph_kernels.write_objects, the tuner's conv candidates). The other graph
kernels and the op library keep the stock path: their row loops (and the op library's runtime strides)
need strength reduction to keep the address arithmetic out of the loop.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

#: an instruction (not a constant expression) GEP with no flags and a constant non-negative i32 index
_TYPE = r"(?:i8|i16|i32|i64|float|double|<\d+ x (?:i8|i16|i32|i64|float)>)"
_GEP = re.compile(rf"(= getelementptr) ({_TYPE}, ptr %[-\w.]+, i32 \d+)(?=[,\n])")


def fold_offsets(ll: str) -> tuple[str, int]:
    """The LLVM IR text with every flagless constant-offset GEP marked `inbounds nuw`, and how many."""
    return _GEP.subn(r"\1 inbounds nuw \2", ll)


def write_object(mod, path: str | Path, fold: bool = True) -> int:
    """Write TVM's compiled LLVM module `mod` (`tvm.compile(...).mod`) as an object file at `path`, its
    constant offsets folded if `fold` (its target made by `wasm_target(fold_offsets=fold)`); returns how
    many GEPs were marked (0: written as TVM made it)."""
    import tvm

    ll, marked = fold_offsets(mod.inspect_source("ll")) if fold else ("", 0)
    if not marked:
        mod.write_to_file(str(path))
        return 0
    with tempfile.TemporaryDirectory(prefix="wasmops-ll-") as tmp:
        source = Path(tmp) / "kernels.ll"
        source.write_text(ll)
        # the IR carries its target (with its cl-opt options) as metadata: code generation is as before
        tvm.runtime.load_module(str(source)).write_to_file(str(path))
    return marked

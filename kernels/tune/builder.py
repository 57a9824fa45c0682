"""MetaSchedule builder for wasm: a candidate PrimFunc -> a one-kernel module the runtime can load.

A candidate is compiled with the whole-graph compiler's target (ops/simd_schedules.wasm_target) and linked by
the same `link_module` (support code, shared imported memory, exported table) behind a one-entry dispatch
table with a manifest, so `kernels.runtime.Runtime` loads it like the op library. A candidate that fails to
compile or link is a failed BuilderResult, never an exception out of the tuner.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder

from .. import manifest as mf
from ..builder import _features, _link

#: the one kernel of a candidate module (its dispatch-table entry and manifest name)
KERNEL = "tune_kernel"


def compile_kernel(
    func: tvm.tirx.PrimFunc,
    isa: str,
    out: Path,
    name: str = KERNEL,
    params: tuple[str, ...] | None = None,
    fold_offsets: bool = False,
) -> Path:
    """Compile one (scheduled) PrimFunc for `isa` and link it into the one-kernel module `out`, its entry `name`.

    `func`'s parameters become the kernel's arguments in order (inputs, then outputs, as FuseTIR made them);
    `params`: the manifest's argument list (default the parameters' names). `fold_offsets`: built as a whole
    graph builds its conv kernels (kernels/wasm_object.py)."""
    from ...ops.simd_schedules import wasm_target
    from ..wasm_object import write_object

    func = func.with_attr("global_symbol", KERNEL)
    target = wasm_target(relaxed=isa == "relaxed-simd", fold_offsets=fold_offsets)
    lib = tvm.compile(tvm.IRModule({KERNEL: func}), target=target)
    with tempfile.TemporaryDirectory(prefix="wasmops-tune-") as tmp:
        work = Path(tmp)
        write_object(lib.mod, work / "kernel.o", fold_offsets)
        module = _link([work / "kernel.o"], [KERNEL], isa, work)
    params = params or tuple(str(p.name) for p in func.params)
    info = {"tvm_version": tvm.__version__, "features": sorted(_features(isa)), "ops": ["tune"]}
    man = mf.Manifest((mf.KernelEntry(0, name, "tune", params),), isa, mf.content_hash(module), info)
    out.write_bytes(mf.attach(module, man))
    return out


def _main_func(mod: tvm.IRModule) -> tvm.tirx.PrimFunc:
    funcs = [f for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    if len(funcs) != 1:
        raise ValueError(f"a tuning candidate holds one PrimFunc, this one {len(funcs)}")
    return funcs[0]


@derived_object
class WasmBuilder(PyBuilder):
    """Builds each candidate into `<work_dir>/candidate-<n>-*/kernel.wasm` (removed once it is timed)."""

    def __init__(self, isa: str, work_dir: str | Path) -> None:
        super().__init__()
        self.isa = isa
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        results = []
        for item in build_inputs:
            self.count += 1
            # a folder per candidate: MetaSchedule's RemoveBuildArtifact deletes the artifact's folder
            out = Path(tempfile.mkdtemp(prefix=f"candidate-{self.count}-", dir=self.work_dir)) / "kernel.wasm"
            try:
                compile_kernel(_main_func(item.mod), self.isa, out)
            except Exception as exc:  # noqa: BLE001 - any TVM / linker failure is a failed trial
                results.append(BuilderResult(None, f"build failed: {str(exc).strip()[-2000:]}"))
                continue
            results.append(BuilderResult(str(out), None))
        return results

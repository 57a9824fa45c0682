"""The fused kernels of a compiled graph: scheduled, then compiled to one wasm32 object.

Each kernel gets the schedule of a tuning record whose workload it is (kernels/tune/records.py: the
package's and the user's records for this TVM and ISA), else our hand schedule (kernels/graph_schedule.py),
else (a primitive failed) none. So a model nobody tuned compiles exactly as before. Build-time only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from . import graph_checks as checks

log = logging.getLogger("wasmops.graph")


def conv_variants(isa: str, tuned: bool) -> dict:
    """Conv configuration key -> the Variant a conv-variant record chose (kernels/tune/conv_records.py)."""
    from .tune import conv_records

    return conv_records.load(isa) if tuned else {}


def tuned_conv_keys(convs: dict, variants: dict) -> list[str]:
    """The configurations of the model's convs that a record retuned (for the manifest)."""
    from .tune.conv_space import config_key

    return sorted({key for key in (config_key(c) for c, _ in convs.values()) if key in variants})


def hand_scheduled(func, convs: dict, fallbacks: list, name: str):
    """Our schedule for a fused kernel, or the kernel unscheduled (correct, slower) where a primitive fails;
    the reason goes to the manifest's schedule_fallbacks."""
    from . import graph_schedule

    try:
        return graph_schedule.schedule(func, convs, fallbacks)
    except Exception as exc:  # noqa: BLE001 - any schedule primitive's failure
        fallbacks.append(f"{name}: unscheduled ({str(exc).strip().splitlines()[0][:160]})")
        return func


def schedule_kernels(mod, plan, convs: dict, packings, isa: str, tuned: bool = True) -> tuple[dict, list, list, list]:
    """(funcs by name, kernel names in table order, schedule fallbacks, names scheduled by a tuning record).

    `tuned=False`: hand schedules only. Init steps (weight packing, run once at load) are never tuned."""
    from .tune import records as rec

    table = rec.load(isa) if tuned else {}
    used = sorted({name for name, _ in plan.steps})
    funcs, fallbacks, by_record = {}, [], []
    for name in used:
        func = mod[name]
        record = table.get(rec.workload_key(func)) if table else None
        scheduled = None
        if record is not None:
            try:
                scheduled = rec.apply(record, func)
                by_record.append(name)
            except Exception as exc:  # noqa: BLE001 - a record that no longer applies: the hand schedule
                fallbacks.append(f"{name}: tuning record {record.key} not applied ({str(exc).strip()[:160]})")
        if scheduled is None:
            scheduled = hand_scheduled(func, convs, fallbacks, name)
        funcs[name] = scheduled.with_attr("global_symbol", name)
    for name in sorted({name for name, _ in plan.init_steps}):
        funcs[name] = hand_scheduled(packings.func(name), {}, fallbacks, name).with_attr("global_symbol", name)
        used.append(name)
    if by_record:
        log.info("%d of %d kernels scheduled by tuning records", len(by_record), len(used))
    return funcs, used, fallbacks, by_record


def write_objects(model, mod, funcs: dict, convs: dict, isa: str, work) -> tuple[list, Callable[[], str]]:
    """Compile the kernels into wasm32 objects in `work`: (object paths, a function giving their LLVM IR).

    Kernels holding one of our convs are built with their constant address offsets folded into the loads
    (kernels/wasm_object.py): their register-tile loops lose an add per load (ResNet-50 2-3 % faster whole).
    The others are built as TVM makes them: their rows (softmax, norms, batched matmuls) lose more to loop
    strength reduction being off than they gain (the transformer encoder was 2 % slower built that way)."""
    from ..ops.simd_schedules import wasm_target
    from .graph_schedule import held_conv
    from .wasm_object import write_object

    conv_kernels = {gv.name_hint for gv, f in mod.functions_items() if gv.name_hint in funcs and held_conv(f, convs)}
    objects, libs = [], []
    for fold in (True, False):
        part = {n: f for n, f in funcs.items() if (n in conv_kernels) == fold}
        if not part:
            continue
        lib = compile_kernels(model, part, wasm_target(relaxed=isa == "relaxed-simd", fold_offsets=fold))
        path = work / ("convs.o" if fold else "kernels.o")
        write_object(lib.mod, path, fold)
        objects.append(path)
        libs.append(lib)
    return objects, lambda: "\n".join(lib.mod.inspect_source("ll") for lib in libs)


def compile_kernels(model, funcs: dict, target):
    """tvm.compile of every kernel; a failure is retried kernel by kernel to name the one TVM cannot compile."""
    import tvm

    try:
        return tvm.compile(tvm.IRModule(funcs), target=target)
    except Exception as exc:  # noqa: BLE001
        first = exc
    for name, func in funcs.items():
        try:
            tvm.compile(tvm.IRModule({name: func}), target=target)
        except Exception as exc:  # noqa: BLE001
            raise checks.stage_refusal(model, "compiling to wasm", exc, kernel=name) from None
    raise checks.stage_refusal(model, "compiling to wasm", first) from None

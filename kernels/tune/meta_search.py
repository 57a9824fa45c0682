"""MetaSchedule over one fused kernel with the wasm builder and runner (rounds sharing one database and cost
model), and what MetaSchedule needs around it on this target: its CPU rules' core count, a quiet logger, no
tensor-intrinsic import."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("wasmops.tune")


def tune_target(isa: str, cores: int = 2):
    """The compile target plus what MetaSchedule's CPU rules read (num-cores: how far to parallelise)."""
    import tvm

    from ...ops.simd_schedules import wasm_target

    return tvm.target.Target({**wasm_target(relaxed=isa == "relaxed-simd").export(), "num-cores": cores})


def cost_model_kind(kind: str = "auto") -> str:
    """'xgb' or 'random' as asked; 'auto': xgb when xgboost is installed."""
    if kind != "auto":
        return kind
    try:
        import xgboost  # noqa: F401
    except ImportError:
        log.warning("xgboost is not installed (pip install 'wasmops[tune]'): candidates are chosen at random")
        return "random"
    return "xgb"


@contextlib.contextmanager
def _quiet_meta_schedule():
    """MetaSchedule logs every round to stdout at INFO (its per-task logs still go to the work dir). It also
    rebuilds its logger config from the handlers already on its logger, by name: an unnamed handler (pytest's
    log capture adds one) breaks that, so those are set aside while tuning and put back after."""
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    old, unnamed = logger.level, [h for h in logger.handlers if h.get_name() is None]
    logger.setLevel(logging.WARNING)
    for handler in unnamed:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(old)
        for handler in unnamed:
            logger.addHandler(handler)


@contextlib.contextmanager
def _without_tensor_intrinsics():
    """TuneContext imports tvm.s_tir.tensor_intrin, which parses ~500 TVMScript intrinsics for CUDA, x86,
    ARM ... (35-90 s on this 2-core machine); the wasm target uses none. A stand-in module while tuning,
    removed afterwards so a later real import still works."""
    name = "tvm.s_tir.tensor_intrin"
    if name in sys.modules:
        yield
        return
    sys.modules[name] = types.ModuleType(name, "stand-in: the wasm target has no tensor intrinsics")
    try:
        yield
    finally:
        sys.modules.pop(name, None)


def search(
    kernel,
    isa: str,
    trials: int,
    deadline: float,
    work: Path,
    *,
    threads: int = 1,
    per_round: int = 16,
    population: int = 256,
    cost_model: str = "auto",
    on_result: Callable | None = None,
) -> tuple[list, int]:
    """MetaSchedule search for one kernel (a driver.Kernel: its `func`), in rounds of `per_round` trials until
    `trials` or `deadline` (time.monotonic()); the rounds share one database and one cost model.
    `population`: the evolutionary search's (MetaSchedule's default 512 costs ~2x the search time per round).
    Returns (top traces as TVM JSON, trials run)."""
    import tvm
    from tvm.s_tir import meta_schedule as ms

    from .builder import WasmBuilder
    from .runner import WasmRunner

    mod = tvm.IRModule({"main": _without_custom_rules(kernel.func.without_attr("global_symbol"))})
    database = ms.database.MemoryDatabase()
    model = ms.cost_model.CostModel.create(cost_model_kind(cost_model), num_tuning_cores=2)
    strategy = ms.search_strategy.EvolutionarySearch(population_size=population)
    builder = WasmBuilder(isa, work / "candidates")
    runner = WasmRunner(threads=threads, on_result=on_result)
    done, round_ = 0, 0
    with _without_tensor_intrinsics():
        while done < trials and time.monotonic() < deadline:
            n = min(per_round, trials - done)
            with _quiet_meta_schedule():  # per round: each round's logger setup resets the level
                ms.tir_integration.tune_tir(
                    mod,
                    tune_target(isa),
                    str(work / "meta_schedule"),
                    max_trials_global=n,
                    num_trials_per_iter=n,
                    builder=builder,
                    runner=runner,
                    database=database,
                    cost_model=model,
                    strategy=strategy,
                    num_tuning_cores=2,
                    seed=round_,
                )
            done, round_ = done + n, round_ + 1
    measured = [r for r in database.get_all_tuning_records() if r.run_secs]
    measured.sort(key=lambda r: min(float(s) for s in r.run_secs))
    # a trace's JSON holds TIR expressions too: TVM's own serialisation, as a string
    return [tvm.ir.save_json(r.trace.as_json()) for r in measured[:3]], done


def _without_custom_rules(func):
    """topi marks pools for a "meta_schedule.pool_max" rule that no CPU target registers: TVM then warns to
    stderr on every candidate. The annotation dropped for the search (records replay on the original)."""
    import tvm

    sch = tvm.s_tir.Schedule(func)
    for blk in sch.get_child_blocks(sch.get_sblock("root")):
        if "schedule_rule" in sch.get(blk).annotations:
            sch.unannotate(blk, "schedule_rule")
    return sch.mod["main"]

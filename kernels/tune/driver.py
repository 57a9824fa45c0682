"""Tune a model's fused kernels: MetaSchedule search per kernel, then hand vs tuned side by side.

The workloads are the graph compiler's own fused PrimFuncs before any schedule (kernels/graph_compiler
`lower_model`), deduplicated by structural hash. Each is searched with the wasm builder and runner for a
trial budget and a slice of the time budget (heavier kernels get more). The best candidates are then
rebuilt from their traces exactly as compile_graph would apply them, checked against the hand schedule's
outputs on the same random inputs, and timed against it alternately in the same runner; a record is kept
only where the tuned kernel is faster by `margin`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import records as rec
from .builder import compile_kernel
from .meta_search import search, tune_target  # noqa: F401 - tune_target: part of this module's API
from .runner import LoadedKernel, Timing, measure

log = logging.getLogger("wasmops.tune")


@dataclass
class Kernel:
    """One distinct fused kernel: `func` unscheduled (the workload), `hand` our schedule, `count` its steps."""

    name: str
    key: str
    func: object
    hand: object
    count: int
    args: list = field(default_factory=list)
    conv: bool = False  # holds one of our convs: tuned over our own schedule space (conv_tune), not here


@dataclass
class KernelResult:
    name: str
    key: str
    count: int
    hand_ms: float
    tuned_ms: float | None = None
    trials: int = 0
    kept: bool = False
    note: str = ""

    @property
    def speedup(self) -> float | None:
        return None if self.tuned_ms is None else self.hand_ms / self.tuned_ms


#: the share of the time budget the conv search may use before MetaSchedule tunes the other kernels
CONV_SHARE = 0.75


def graph_kernels(model, progress: bool = False) -> list[Kernel]:
    """The distinct fused kernels of `model` (an ONNX ModelProto with static input shapes)."""
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    from ..graph_checks import check_io
    from ..graph_compiler import lower_model
    from ..graph_kernels import hand_scheduled
    from ..graph_schedule import held_conv

    check_io(model)
    _, mod, plan, convs, _ = lower_model(model)
    counts = Counter(name for name, _ in plan.steps)
    found: dict[str, Kernel] = {}
    for name in sorted(counts):
        func = mod[name]
        key = rec.workload_key(func)
        if key in found:
            found[key].count += counts[name]
            continue
        hand = hand_scheduled(func, convs, [], name)
        args = [(tuple(int(d) for d in a.shape), np.dtype(str(a.dtype))) for a in ArgInfo.from_prim_func(func)]
        found[key] = Kernel(name, key, func, hand, counts[name], args, held_conv(func, convs) is not None)
    return list(found.values())


def _close(got: list[np.ndarray], want: list[np.ndarray]) -> str:
    """'' if every buffer matches (floats: |d| <= 1e-3 * max(1, max|want|)), else what differs."""
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if b.dtype.kind == "f":
            scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
            err = float(np.max(np.abs(a.astype(np.float64) - b))) if b.size else 0.0
            if not err <= 1e-3 * scale:  # NaN fails too
                return f"argument {i} differs from the hand schedule's by {err:.3g} (scale {scale:.3g})"
        elif not np.array_equal(a, b):
            return f"argument {i} differs from the hand schedule's"
    return ""


def compare(hand_path: Path, tuned_path: Path, args: list, threads: int, rounds: int = 3) -> tuple[Timing, Timing, str]:
    """Hand and tuned loaded side by side: outputs compared on the same seeded inputs, then timed
    alternately `rounds` times (the machine's noise hits both); min over rounds of each."""
    from ..instances import thread_limit

    hand, tuned = LoadedKernel(hand_path, args), LoadedKernel(tuned_path, args)
    try:
        with thread_limit(threads):
            hand.call()
            tuned.call()
            problem = _close(tuned.buffers(), hand.buffers())
            if problem:
                return measure(hand.call), None, problem
            h, t = [], []
            for _ in range(rounds):
                h.append(measure(hand.call))
                t.append(measure(tuned.call))
        return min(h, key=lambda x: x.best), min(t, key=lambda x: x.best), ""
    finally:
        hand.close()
        tuned.close()


def hand_times(kernels: list[Kernel], isa: str, work: Path, threads: int) -> dict[str, Timing]:
    """Each kernel's hand schedule built and timed in the tuning runner (also: which kernels matter)."""
    from .runner import time_module

    times = {}
    for k in kernels:
        path = compile_kernel(k.hand, isa, work / f"hand-{k.key}.wasm", fold_offsets=k.conv)
        times[k.key] = time_module(path, k.args, threads, repeats=5)
    return times


def tune_model(
    model,
    *,
    isa: str = "relaxed-simd",
    trials: int = 64,
    budget_s: float = 600.0,
    threads: int = 1,
    min_ms: float = 0.02,
    margin: float = 0.03,
    population: int = 256,
    cost_model: str = "auto",
    save: bool = True,
    records_path: Path | None = None,
    progress: bool = True,
    work_dir: Path | None = None,
    only: list[str] | None = None,
    convs: bool = True,
    meta: bool = True,
) -> list[KernelResult]:
    """Tune `model`'s kernels (an ONNX ModelProto, static shapes) and save the faster ones as records.

    First its convolutions over our own schedule space (`convs`, kernels/tune/conv_tune.py: conv-variant
    records), then the other kernels with MetaSchedule (`meta`: trace records) in the time left.
    `trials` MetaSchedule trials per kernel, `budget_s` seconds of search in all (split by each kernel's
    share of the hand time, unused time passed on); kernels under `min_ms` of hand time per run are left
    alone. A record is kept where tuned < hand * (1 - margin). `only`: tune just the kernels (and convs)
    whose names contain one of these. Returns one result per distinct kernel considered, convs first."""
    if isa not in ("relaxed-simd", "simd128"):
        raise ValueError(f"isa must be 'relaxed-simd' or 'simd128', got {isa!r}")
    o = _Options(
        isa, trials, threads, min_ms, margin, population, cost_model, save, records_path, progress, work_dir, only
    )
    started = time.monotonic()
    done: list[KernelResult] = []
    if convs:  # at most CONV_SHARE of the budget when MetaSchedule follows (DenseNet-121 has 66 distinct convs)
        done += _tune_convs(model, o, budget_s * (CONV_SHARE if meta else 1.0))
    if not meta:
        return done
    left = budget_s - (time.monotonic() - started)
    return done + _tune_meta(model, o, left, skip_convs=convs, must_match=not done)


@dataclass(frozen=True)
class _Options:
    """tune_model's settings, as both searches read them."""

    isa: str
    trials: int
    threads: int
    min_ms: float
    margin: float
    population: int
    cost_model: str
    save: bool
    records_path: Path | None
    progress: bool
    work_dir: Path | None
    only: list[str] | None


def _tune_convs(model, o: _Options, budget_s: float) -> list[KernelResult]:
    """The conv-space search (conv_tune) as KernelResults; its records go next to `records_path`."""
    from . import conv_records, conv_tune

    path = o.records_path.parent / conv_records.file_name(o.isa, rec._tvm_version()) if o.records_path else None
    results = conv_tune.tune_convs(
        model,
        isa=o.isa,
        budget_s=budget_s,
        threads=o.threads,
        margin=o.margin,
        save=o.save,
        records_path=path,
        progress=o.progress,
        work_dir=o.work_dir,
        model_name=getattr(getattr(model, "graph", None), "name", ""),
        only=o.only,
    )
    return [
        KernelResult(
            r.name,
            r.key,
            r.count,
            r.hand_ms,
            r.tuned_ms,
            r.tried,
            r.kept,
            f"record saved: {conv_tune.describe(r.best)}" if r.kept else r.note,
        )
        for r in results
    ]


def _tune_meta(model, o: _Options, budget_s: float, skip_convs: bool, must_match: bool) -> list[KernelResult]:
    """MetaSchedule over the model's fused kernels (those holding one of our convs left out if `skip_convs`);
    `must_match`: an `only` that matches no kernel is an error (no conv matched it either)."""
    from tqdm import tqdm

    isa, trials, threads, min_ms, only = o.isa, o.trials, o.threads, o.min_ms, o.only
    with tempfile.TemporaryDirectory(prefix="wasmops-tune-", dir=o.work_dir) as tmp:
        work = Path(tmp)
        kernels = [k for k in graph_kernels(model) if not (skip_convs and k.conv)]
        if only:
            kernels = [k for k in kernels if any(part in k.name for part in only)]
            if not kernels and must_match:
                raise ValueError(f"no kernel of the model has a name containing any of {only}")
        hand = hand_times(kernels, isa, work, threads)
        kernels.sort(key=lambda k: -hand[k.key].best * k.count)
        results = {k.key: KernelResult(k.name, k.key, k.count, hand[k.key].best * 1e3) for k in kernels}
        todo = [k for k in kernels if hand[k.key].best * 1e3 * k.count >= min_ms]
        for k in kernels[len(todo) :]:
            results[k.key].note = f"under {min_ms} ms: not tuned"
        start = time.monotonic()
        weights = {k.key: hand[k.key].best * k.count for k in todo}
        with tqdm(total=trials * len(todo), desc="tuning", unit="trial", disable=not o.progress) as bar:
            for i, k in enumerate(todo):
                left = sum(weights[t.key] for t in todo[i:])
                remaining = budget_s - (time.monotonic() - start)
                if remaining <= 0:  # every kernel gets at least one round while time is left, none after
                    results[k.key].note = "time budget used up: not tuned"
                    bar.update(trials)
                    continue
                slice_s = remaining * weights[k.key] / left
                bar.set_postfix_str(k.name[:40])
                best = [float("inf")]

                def on_result(seconds, best=best, name=k.name):
                    if seconds is not None and seconds < best[0]:
                        best[0] = seconds
                        bar.set_postfix_str(f"{name[:40]} best {seconds * 1e3:.3f} ms")
                    bar.update()

                res = results[k.key]
                with tempfile.TemporaryDirectory(dir=work) as kwork:
                    traces, res.trials = search(
                        k,
                        isa,
                        trials,
                        time.monotonic() + max(slice_s, 0.0),
                        Path(kwork),
                        threads=threads,
                        population=o.population,
                        cost_model=o.cost_model,
                        on_result=on_result,
                    )
                bar.update(max(0, trials - res.trials))  # a budget cut: the bar still ends at its total
                record = _best_record(k, traces, isa, work, threads, res, o.margin, model)
                if record is not None and o.save:  # saved as found: an interrupted run keeps what it won
                    path = rec.save([record], isa, o.records_path)
                    log.info("saved the tuning record of %s to %s", k.name, path)
    return [results[k.key] for k in kernels]


def _best_record(kernel: Kernel, traces: list, isa: str, work: Path, threads: int, res: KernelResult, margin, model):
    """The fastest of the top traces, rebuilt through records.apply, if it beats the hand schedule."""
    hand_path = work / f"hand-{kernel.key}.wasm"
    best = None
    for i, trace in enumerate(traces):
        record = rec.Record(
            key=kernel.key,
            name=kernel.name,
            trace=trace,
            workload_json=_workload_json(kernel.func),
            hand_ms=0.0,
            tuned_ms=0.0,
            threads=threads,
            trials=res.trials,
            model=model.graph.name if hasattr(model, "graph") else "",
            created=rec.now(),
        )
        try:
            func = rec.apply(record, kernel.func)
            path = compile_kernel(func, isa, work / f"tuned-{kernel.key}-{i}.wasm", fold_offsets=kernel.conv)
            hand, tuned, problem = compare(hand_path, path, kernel.args, threads)
        except Exception as exc:  # noqa: BLE001 - a trace that does not replay or build: not a record
            res.note = f"candidate {i}: {str(exc).strip().splitlines()[0][:120]}"
            continue
        if problem:
            res.note = f"candidate {i} refused: {problem}"
            continue
        if best is None or tuned.best < best[2].best:
            best = (record, hand, tuned)
    if best is None:
        res.note = res.note or "no valid candidate"
        return None
    record, hand, tuned = best
    res.hand_ms, res.tuned_ms = hand.best * 1e3, tuned.best * 1e3
    if tuned.best >= hand.best * (1 - margin):
        res.note = "hand schedule kept (tuned not faster)"
        return None
    res.kept = True
    import dataclasses

    return dataclasses.replace(record, hand_ms=res.hand_ms, tuned_ms=res.tuned_ms)


def _workload_json(func) -> str:
    import tvm

    return tvm.ir.save_json(func.without_attr("global_symbol") if "global_symbol" in (func.attrs or {}) else func)


def table(results: list[KernelResult]) -> str:
    """kernel / steps / hand ms / tuned ms / speedup / note, one line each."""
    lines = [f"{'kernel':<44} {'steps':>5} {'hand ms':>9} {'tuned ms':>9} {'speedup':>8}  note"]
    for r in results:
        tuned = f"{r.tuned_ms:9.3f}" if r.tuned_ms is not None else f"{'-':>9}"
        speed = f"{r.speedup:7.2f}x" if r.speedup is not None else f"{'-':>8}"
        note = r.note if r.kept and r.note.startswith("record saved") else "record saved" if r.kept else r.note
        lines.append(f"{r.name[:44]:<44} {r.count:>5} {r.hand_ms:9.3f} {tuned} {speed}  {note}")
    return "\n".join(lines)

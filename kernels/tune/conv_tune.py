"""Tune a model's convolutions over our own schedule space (conv_space): coordinate descent per conv.

For each distinct conv of the model (the graph compiler's legalisation, hand choices), starting from the
hand variant: try every candidate that differs in one decision (algorithm, register tile, channel block,
reduction order, replicated or splatted weights), move to the fastest, and repeat over the decisions once
more; with time left, every other variant of the winning algorithm. Every candidate is built as a one-kernel
module, checked against a float64 conv (a wrong one is refused, never timed), and timed by the tuning
runner. The three fastest are then timed against the hand variant alternately, three rounds in one process
(a single timing favours the lucky), and the best is kept only if faster than the hand variant by `margin`.
Convs get search time in proportion to their multiply-adds.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from . import conv_records
from . import conv_space as sp
from .runner import LoadedKernel, Timing, keep_best, measure

log = logging.getLogger("wasmops.tune")

#: the decisions, in the order coordinate descent visits them (twice)
DECISIONS = ("algorithm", "splat", "tile", "kc", "order", "tile", "kc", "splat")
#: relative error against the float64 conv above which a candidate is refused (Winograd F(4x4) ~2e-6)
TOLERANCE = 1e-4


def _decision(v, name: str):
    return {
        "algorithm": (v.kind, v.m if v.kind == "winograd" else 0),
        "tile": (v.T, v.NV),
        "kc": v.kc,
        "order": v.order,
        "splat": v.splat,
    }[name]


@dataclass
class ConvResult:
    """One distinct conv: its key, how many steps use it, the hand and tuned variants and times (ms)."""

    key: str
    count: int
    hand: object
    hand_ms: float = 0.0
    best: object = None
    tuned_ms: float | None = None
    tried: int = 0
    kept: bool = False
    note: str = ""
    times: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "conv " + self.key

    @property
    def speedup(self) -> float | None:
        return None if self.tuned_ms is None else self.hand_ms / self.tuned_ms


def describe(v) -> str:
    """A variant in a few words, for tables."""
    algo = f"winograd F({v.m}x{v.m},3x3)" if v.kind == "winograd" else v.kind
    extra = (f" {v.order}" if v.kind == "grid" else "") + (f" kc {v.kc}" if v.kc else "")
    extra += (" splat" if v.splat else "") + (" x-tiled" if v.xtile else "")
    return f"{algo} tile {v.T}x{4 * v.NV}{extra}"


def model_convs(model) -> list[tuple[tuple, int]]:
    """(configuration, steps using it) for every conv legalised to our compute, hand variants."""
    from ..graph_compiler import lower_model
    from ..graph_schedule import held_conv

    _, mod, plan, convs, _ = lower_model(model)
    found: Counter = Counter()
    configs = {}
    for name, n in Counter(name for name, _ in plan.steps).items():
        held = held_conv(mod[name], convs)
        if held is not None:
            key = sp.config_key(held[0])
            configs[key] = held[0]
            found[key] += n
    return [(configs[k], n) for k, n in found.items()]


class _Candidate:
    """A built, loaded and checked candidate: `time()` measures it once more. `problem` says why not, if it
    failed to build or run or is wrong (it is then closed). A module built before in `work` is reused.
    `data`: the conv's sample (conv_space.sample), made once per conv."""

    def __init__(self, config, variant, isa: str, work: Path, threads: int, data):
        self.variant, self.threads, self.kernel, self.problem = variant, threads, None, ""
        try:
            path = work / f"c{abs(hash((sp.config_key(config), variant)))}.wasm"  # convs share `work`
            if not path.exists():
                sp.build(config, variant, isa, path)
            data, want = sp.inputs(config, variant, data)
            self.kernel = LoadedKernel(path, [(a.shape, a.dtype) for a in data], data=data)
            self.kernel.call()
            got = self.kernel.buffers()[-1].astype(np.float64)
            err = float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(want))))
            if not err <= TOLERANCE:
                self.problem = f"differs from the float64 conv by {err:.2g}"
        except Exception as exc:  # noqa: BLE001 - a variant that does not schedule, build or run
            self.problem = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
        if self.problem:
            self.close()

    def time(self) -> Timing:
        from ..instances import thread_limit

        with thread_limit(self.threads):
            return measure(self.kernel.call, repeats=5, cold=True)  # a conv's weights come from memory in its model

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()
            self.kernel = None


def tune_conv(
    config, count: int, isa: str, deadline: float, work: Path, threads: int = 1, margin: float = 0.03, on_candidate=None
) -> ConvResult:
    """Coordinate descent from the hand variant, then (time left) every other variant of the winning
    algorithm, until `deadline` (time.monotonic()); then the three fastest against the hand variant."""
    space = sp.candidates(config)
    hand = space[0]
    res = ConvResult(sp.config_key(config), count, hand)
    data = sp.sample(config)
    base = _Candidate(config, hand, isa, work, threads, data)
    if base.problem:
        res.note = f"hand variant: {base.problem}"
        return res
    times = {hand: base.time().best}
    try:
        best = hand
        for decision in DECISIONS:
            others = [
                v
                for v in space
                if _decision(v, decision) != _decision(best, decision)
                and all(_decision(v, d) == _decision(best, d) for d in set(DECISIONS) - {decision})
            ]
            if not _try(config, data, others, times, isa, work, threads, deadline, on_candidate):
                res.note = "time budget used up"
                break
            best = min(times, key=times.get)
        else:  # descent finished in time: widen to the whole family of the winning algorithm
            family = [v for v in space if _decision(v, "algorithm") == _decision(best, "algorithm")]
            _try(config, data, family, times, isa, work, threads, deadline, on_candidate)
        res.tried, res.times = len(times), times
        load = partial(_Candidate, config, isa=isa, work=work, threads=threads, data=data)
        return keep_best(res, times, hand, base, load, lambda c: c.time().best, margin, "variant")
    finally:
        base.close()


def _try(config, data, variants, times: dict, isa, work, threads, deadline: float, on_candidate) -> bool:
    """Build, check and time each variant not timed yet into `times` (inf: refused); False at the deadline."""
    for v in variants:
        if v in times:
            continue
        if time.monotonic() > deadline:
            return False
        cand = _Candidate(config, v, isa, work, threads, data)
        if on_candidate is not None:
            on_candidate()
        if cand.problem:
            times[v] = float("inf")
            log.debug("conv %s: %s", v, cand.problem)
            continue
        try:
            times[v] = cand.time().best
        finally:
            cand.close()
    return True


def tune_convs(
    model,
    *,
    isa: str,
    budget_s: float,
    threads: int = 1,
    margin: float = 0.03,
    save: bool = True,
    records_path: Path | None = None,
    progress: bool = True,
    work_dir: Path | None = None,
    model_name: str = "",
    only: list[str] | None = None,
) -> list[ConvResult]:
    """Tune every distinct conv of `model` within `budget_s` seconds; save the winners as conv records.
    `only`: just the convs whose key (conv_space.config_key) contains one of these strings."""
    from tqdm import tqdm

    configs = [c for c in model_convs(model) if not only or any(p in sp.config_key(c[0]) for p in only)]
    if not configs:
        return []
    with tempfile.TemporaryDirectory(prefix="wasmops-convtune-", dir=work_dir) as tmp:
        work = Path(tmp)
        weights = {}
        for config, n in configs:  # multiply-adds per conv stand for its time (building every hand one costs)
            x_shape, w_shape = config[0], config[1]
            weights[sp.config_key(config)] = (
                n * float(np.prod(w_shape)) * float(np.prod(x_shape[2:])) / max(1, int(config[2][0]) ** 2)
            )
        configs.sort(key=lambda c: -weights[sp.config_key(c[0])])
        results, start = [], time.monotonic()
        planned = sum(len(sp.candidates(c)) for c, _ in configs)  # an upper bound: the budget may cut it
        with tqdm(total=planned, desc="tuning convs", unit="variant", disable=not progress) as bar:
            for i, (config, n) in enumerate(configs):
                key = sp.config_key(config)
                left = budget_s - (time.monotonic() - start)  # unused time passes on to the lighter convs
                share = left * weights[key] / sum(weights[sp.config_key(c)] for c, _ in configs[i:])
                deadline = time.monotonic() + max(0.0, share)
                bar.set_postfix_str(key[:48])
                res = tune_conv(config, n, isa, deadline, work, threads, margin, on_candidate=bar.update)
                results.append(res)
                if res.kept and save:
                    path = conv_records.save(
                        [conv_records.record(key, res.best, res.hand_ms, res.tuned_ms, threads, res.tried, model_name)],
                        isa,
                        records_path,
                    )
                    log.info("saved the conv record of %s to %s", key, path)
            bar.total = bar.n
            bar.refresh()
    return results

"""`wasmops tune --ops`: the register tile of each tunable op-library kernel, per shape class, by measurement.

The op library's dense, matmul and conv kernels are shape-generic; each has a dispatch entry per shape class
(ops/_tile_sizes.py) that the plans choose from the call's shape. For every entry the layer shapes of
op_workloads reach, every tile the kernel allows is built as a one-kernel module (the entry's name, so the
op's own plan runs it), checked against the op's float64 reference on each workload (a wrong one is refused,
never timed) and timed over all of them. The fastest three are then timed against the hand tile alternately,
three rounds in one process, and the best is recorded only if faster by `margin`; `wasmops build` then
compiles the entry with it (kernels/builder.py).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ...ops import all_ops
from ...ops._tile_sizes import HAND, Tile
from ...ops.spec import PACK_CONSTANTS, Call
from . import op_records
from . import records as rec
from .op_workloads import WORKLOADS, Workload
from .runner import _private_cache, keep_best, measure

log = logging.getLogger("wasmops.tune")

#: error against the op's float64 reference, relative to the output's largest magnitude, above which a
#: candidate is refused (float32 sums of up to 3072 products differ by ~1e-6)
TOLERANCE = 1e-4


@dataclass
class EntryResult:
    """One dispatch entry: the workloads it was timed on, the hand and best tiles and their times (ms)."""

    entry: str
    workloads: list[str]
    hand_ms: float = 0.0
    best: Tile = HAND
    tuned_ms: float = 0.0
    tried: int = 0
    kept: bool = False
    note: str = ""
    times: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        return self.hand_ms / self.tuned_ms if self.tuned_ms else 1.0


@dataclass
class _Case:
    workload: Workload
    args: list[np.ndarray]
    call: Call
    want: np.ndarray


def entry_cases(workloads=WORKLOADS) -> dict[str, list[_Case]]:
    """Dispatch entry -> the workloads' calls that reach it, each workload planned with plain and packed weights."""
    table = all_ops()
    found: dict[str, list[_Case]] = {}
    for w in workloads:
        op = table[w.op]
        args = w.arrays()
        want = np.asarray(op.reference(*args, **w.attrs), np.float64)
        for packed in (False, True):
            token = PACK_CONSTANTS.set(packed)
            try:
                call = op.plan(*args, **w.attrs)
            finally:
                PACK_CONSTANTS.reset(token)
            if isinstance(call, Call) and "__" in call.kernel:
                cases = found.setdefault(call.kernel, [])
                if all(c.workload is not w for c in cases):
                    cases.append(_Case(w, args, call, want))
    return found


def _kernel(entry: str):
    base = entry.rsplit("__", 1)[0]
    for _, k in all_ops().kernels():
        if k.name == base:
            return k
    raise KeyError(f"no tunable kernel {base!r}")


class _Candidate:
    """An entry built with one tile and loaded; `problem` says why it cannot be timed (build, run, wrong)."""

    def __init__(self, entry: str, tile: Tile, cases: list[_Case], isa: str, work: Path):
        from ..runtime import Runtime
        from .builder import compile_kernel

        self.cases, self.runtime, self.problem = cases, None, ""
        try:
            k = _kernel(entry)
            path = work / f"{entry}-{tile.name}.wasm"
            if not path.exists():
                func = k.build() if tile == HAND else k.build(tile=tile)
                compile_kernel(func, isa, path, name=entry, params=k.params)
            with _private_cache():
                self.runtime = Runtime(path, time_limits=False)
            for case in cases:
                got = np.asarray(self.runtime.run(case.call), np.float64)
                err = float(np.max(np.abs(got - case.want), initial=0.0)) / max(1.0, float(np.max(np.abs(case.want))))
                if not err <= TOLERANCE:
                    self.problem = f"{case.workload.label}: differs from the float64 reference by {err:.2g}"
                    break
        except Exception as exc:  # noqa: BLE001 - a tile that does not schedule, build or run
            self.problem = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
        if self.problem:
            self.close()

    def time(self, threads: int) -> float:
        """Seconds for one call of every case (the sum of each case's min-of-k)."""
        from ..instances import thread_limit

        rt = self.runtime
        with thread_limit(threads):
            return sum(measure(lambda c=c: rt.run(c.call), repeats=5).best for c in self.cases)

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.instances.stop()
            self.runtime = None


def tune_entry(
    entry: str,
    cases: list[_Case],
    isa: str,
    work: Path,
    deadline: float,
    threads: int = 1,
    margin: float = 0.03,
    bar=None,
) -> EntryResult:
    """Every tile of the entry's kernel until `deadline` (time.monotonic()), then the best three against hand."""
    res = EntryResult(entry, [c.workload.label for c in cases])
    tiles = sorted(_kernel(entry).tiles, key=lambda t: t != HAND)  # the hand tile first
    base = _Candidate(entry, HAND, cases, isa, work)
    if base.problem:
        res.note = f"hand tile: {base.problem}"
        return res
    times = {HAND: base.time(threads)}
    try:
        for tile in tiles[1:]:
            if time.monotonic() > deadline:
                res.note = "time budget used up"
                break
            cand = _Candidate(entry, tile, cases, isa, work)
            if bar is not None:
                bar.update()
            if cand.problem:
                times[tile] = float("inf")
                log.warning("op tuning %s, tile %s refused: %s", entry, tile.name, cand.problem)
                continue
            try:
                times[tile] = cand.time(threads)
            finally:
                cand.close()
        res.tried, res.times = len(times), times
        load = partial(_Candidate, entry, cases=cases, isa=isa, work=work)
        return keep_best(res, times, HAND, base, load, lambda c: c.time(threads), margin, "tile")
    finally:
        base.close()


def tune_ops(
    *,
    isa: str,
    budget_s: float,
    threads: int = 1,
    margin: float = 0.03,
    save: bool = True,
    records_path: Path | None = None,
    progress: bool = True,
    only: list[str] | None = None,
    workloads=WORKLOADS,
) -> list[EntryResult]:
    """Tune every tunable entry the workloads reach within `budget_s` seconds (shared evenly, unused time passed
    on); save one record per finished entry, the hand tile's too, so an older record of it is replaced."""
    from tqdm import tqdm

    cases = {e: c for e, c in sorted(entry_cases(workloads).items()) if not only or any(p in e for p in only)}
    results, start = [], time.monotonic()
    total = sum(len(_kernel(e).tiles) - 1 for e in cases)
    with (
        tempfile.TemporaryDirectory(prefix="wasmops-optune-") as tmp,
        tqdm(total=total, desc="tuning op tiles", unit="tile", disable=not progress) as bar,
    ):
        for i, (entry, entry_cases_) in enumerate(cases.items()):
            left = budget_s - (time.monotonic() - start)
            deadline = time.monotonic() + max(0.0, left / (len(cases) - i))
            bar.set_postfix_str(entry)
            res = tune_entry(entry, entry_cases_, isa, Path(tmp), deadline, threads, margin, bar)
            results.append(res)
            if save and (res.kept or res.tried == len(_kernel(entry).tiles)):  # not one cut short by the budget
                tile = res.best if res.kept else HAND
                record = op_records.TileRecord(
                    entry, tile.name, res.hand_ms, res.tuned_ms, threads, res.tried, res.workloads, rec.now()
                )
                op_records.save([record], isa, records_path)
        bar.total = bar.n
        bar.refresh()
    return results


def table(results: list[EntryResult]) -> str:
    """A plain-text table: entry, workloads, hand and tuned ms, speedup, tile kept."""
    lines = [f"{'entry':<40} {'shapes':>6} {'hand ms':>9} {'tuned ms':>9} {'speedup':>8}  tile"]
    for r in results:
        kept = r.best.name if r.kept else f"hand ({r.note})" if r.note else "hand"
        lines.append(
            f"{r.entry:<40} {len(r.workloads):>6} {r.hand_ms:>9.3f} {r.tuned_ms:>9.3f} {r.speedup:>7.2f}x  {kept}"
        )
    return "\n".join(lines)

"""`make fuzz`: every op, N generated examples each (default 10,000), then a table op / examples / failures.

    python -m tests.fuzz.run [--examples N] [-k SUBSTRING] [--only OP,OP] [--skip OP,OP] [--jobs J] [--seed S]

Per op, hypothesis draws structures (shapes, dtypes, attributes), each checked on VALUES_PER_DRAW (8) fresh
value sets, until N examples (input sets) passed or one fails (logged to build/fuzz/failures.txt with its input
set whole in build/fuzz/OP.npz, replayed by `python -m tests.fuzz.replay`; shrunk with --shrink); the table
counts examples run, refusals (documented exceptions) and failures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

from . import replay
from .check import Mismatch, check
from .strategies import VALUES_PER_DRAW, ops, strategy_for

LOG = Path("build/fuzz/failures.txt")


def fuzz_op(op, examples: int, rng_seed: int, shrink: bool = False) -> tuple[int, int, str]:
    """(examples run, refused, the shrunk failure's message or ''); the failing example goes to LOG."""
    counts = {"ok": 0, "refused": 0}
    last: list = []

    @seed(rng_seed)
    @settings(
        max_examples=-(-examples // VALUES_PER_DRAW),  # each draw is checked on VALUES_PER_DRAW value sets
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else []),
    )
    @given(strategy_for(op))
    def run(ex):
        try:
            for verdict in check(op.name, ex):
                counts[verdict] += 1
        except Mismatch as exc:
            last[:] = [exc.example, str(exc)]  # the last failing example hypothesis tries (shrunk with --shrink)
            raise

    try:
        run()
    except (AssertionError, BaseExceptionGroup):
        pass
    if not last:
        return counts["ok"] + counts["refused"], counts["refused"], ""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    saved = replay.save(LOG.parent / f"{op.name}.npz", op.name, last[0])  # the log's repr summarises big arrays
    with LOG.open("a") as log:
        log.write(f"## {op.name}\n{last[1]}\n{last[0]!r}\nreplay: python -m tests.fuzz.replay {saved}\n\n")
    return counts["ok"] + counts["refused"] + 1, counts["refused"], last[1].splitlines()[0][:150]


def _fuzz_row(name: str, examples: int, rng_seed: int, shrink: bool) -> tuple[str, str]:
    """One op's table row and its failure's first line (run in a worker process)."""
    op = next(o for o in ops() if o.name == name)
    t0 = time.perf_counter()
    n, refused, failure = fuzz_op(op, examples, rng_seed, shrink)
    return f"| {name} | {n} | {refused} | {1 if failure else 0} | {time.perf_counter() - t0:.0f} |", failure


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("-k", default="", help="only ops whose name contains this")
    parser.add_argument("--skip", default="", help="comma-separated op names to leave out")
    parser.add_argument("--only", default="", help="comma-separated op names to run (e.g. after a fix)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (ops are shared out among them)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--shrink", action="store_true", help="shrink a failing example (slow on big ops)")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    only = set(filter(None, args.only.split(",")))
    names = [op.name for op in ops() if args.k in op.name and op.name not in skip and (not only or op.name in only)]
    if only - {op.name for op in ops()}:
        parser.error(f"--only: no op named {', '.join(sorted(only - {op.name for op in ops()}))}")
    LOG.unlink(missing_ok=True)
    for stale in LOG.parent.glob("*.npz"):  # a replay file belongs to this run's log
        stale.unlink()
    print("| op | examples | refused (documented exception) | failures | seconds |")
    print("|---|---:|---:|---:|---:|")
    failed = 0
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_fuzz_row, name, args.examples, args.seed, args.shrink) for name in names]
        for future in as_completed(futures):
            row, failure = future.result()
            failed += bool(failure)
            print(row + (f" {failure}" if failure else ""), flush=True)
    print(f"\n{len(names)} ops, {failed} with a failure")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

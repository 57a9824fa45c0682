"""`make fuzz`: every op, N generated examples each (default 10,000), then a table op / examples / failures.

    python -m tests.fuzz.run [--examples N] [-k SUBSTRING] [--seed S]

Per op, hypothesis runs until N examples passed or one fails (then it shrinks that one and prints it); the
table counts examples run, refusals (documented exceptions) and failures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

from .check import check
from .strategies import ops, strategy_for

LOG = Path("build/fuzz/failures.txt")


def fuzz_op(op, examples: int, rng_seed: int, shrink: bool = False) -> tuple[int, int, str]:
    """(examples run, refused, the shrunk failure's message or ''); the failing example goes to LOG."""
    counts = {"ok": 0, "refused": 0}
    last: list = []

    @seed(rng_seed)
    @settings(
        max_examples=examples,
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
            counts[check(op.name, ex)] += 1
        except AssertionError as exc:
            last[:] = [ex, str(exc)]  # the last failing example hypothesis tries (shrunk with --shrink)
            raise

    try:
        run()
    except (AssertionError, BaseExceptionGroup):
        pass
    if not last:
        return counts["ok"] + counts["refused"], counts["refused"], ""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"## {op.name}\n{last[1]}\n{last[0]!r}\n\n")
    return counts["ok"] + counts["refused"] + 1, counts["refused"], last[1].splitlines()[0][:150]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("-k", default="")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--shrink", action="store_true", help="shrink a failing example (slow on big ops)")
    args = parser.parse_args(argv)
    rows, failed = [], 0
    LOG.unlink(missing_ok=True)
    print("| op | examples | refused (documented exception) | failures | seconds |")
    print("|---|---:|---:|---:|---:|")
    for op in ops():
        if args.k not in op.name:
            continue
        t0 = time.perf_counter()
        n, refused, failure = fuzz_op(op, args.examples, args.seed, args.shrink)
        failed += bool(failure)
        row = f"| {op.name} | {n} | {refused} | {1 if failure else 0} | {time.perf_counter() - t0:.0f} |"
        rows.append(row)
        print(row + (f" {failure}" if failure else ""), flush=True)
    print(f"\n{len(rows)} ops, {failed} with a failure")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

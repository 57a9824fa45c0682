"""`wasmops tune MODEL.onnx` / `wasmops tune --ops`: tune a model's whole-graph kernels or the op library's
tiles, print hand vs tuned per kernel."""

from __future__ import annotations

import argparse
from pathlib import Path


def _tune(args: argparse.Namespace) -> int:
    import warnings

    from .bindings.graph_tune import tune_graph
    from .cli import _input_shapes
    from .kernels.tune.driver import table
    from .kernels.tune.records import user_dir

    if args.trials < 1 or args.budget <= 0:
        raise SystemExit("wasmops tune: --trials must be at least 1 and --budget above 0")
    if args.ops == (args.model is not None):
        raise SystemExit("wasmops tune: give a model (.onnx) or --ops, not both")
    if args.ops:
        return _tune_ops(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        results = tune_graph(
            args.model,
            input_shapes=_input_shapes(args.input_shape),
            isa="simd128" if args.no_relaxed else "relaxed-simd",
            trials=args.trials,
            budget_minutes=args.budget,
            threads=args.threads,
            progress=not args.quiet,
            records_path=args.records,
            only=args.kernel,
            convs=args.search in ("all", "convs"),
            meta=args.search in ("all", "meta"),
        )
    print(table(results))
    hand = sum(r.hand_ms * r.count for r in results)
    best = sum((r.tuned_ms if r.kept else r.hand_ms) * r.count for r in results)
    kept = sum(r.kept for r in results)
    print(f"kernels total: hand {hand:.2f} ms, with the kept records {best:.2f} ms ({hand / best:.2f}x)")
    where = args.records.parent if args.records else user_dir()  # conv-variant records go next to the file
    print(f"{kept} record(s) saved in {where}: the next compile of this model uses them")
    if kept and not args.no_check:
        _check(args, where)
    return 0


def _check(args: argparse.Namespace, where: Path) -> None:
    """The whole model with and without the records, side by side: a warning if they make it slower."""
    import os

    from .bindings.graph_tune import compare_model
    from .cli import _input_shapes

    if args.records:  # compile_graph reads the user's folder: point it at the one just written
        os.environ["WASMOPS_TUNE_RECORDS"] = str(where)
    model = args.model
    if args.input_shape:
        from .bindings.graph_session import onnx_model
        from .bindings.graph_static import specialise

        model = specialise(onnx_model(model), _input_shapes(args.input_shape), None)
    isa = "simd128" if args.no_relaxed else "relaxed-simd"
    hand, tuned = compare_model(model, isa=isa, threads=args.threads)
    print(f"whole model, {args.threads} thread(s), fastest of 9 runs each: hand {hand:.2f} ms, tuned {tuned:.2f} ms")
    if tuned > hand:
        print(
            f"warning: with these records the model is slower ({hand / tuned:.2f}x) than with hand schedules "
            f"(timing noise, or kernels that win alone and lose together): compile it with tuned=False, or "
            f"remove the records from {where}"
        )


def _tune_ops(args: argparse.Namespace) -> int:
    from .kernels.tune.op_records import file_name
    from .kernels.tune.op_tune import table, tune_ops
    from .kernels.tune.records import user_dir

    isa = "simd128" if args.no_relaxed else "relaxed-simd"
    results = tune_ops(
        isa=isa,
        budget_s=args.budget * 60,
        threads=args.threads,
        progress=not args.quiet,
        records_path=args.records,
        only=args.kernel,
    )
    print(table(results))
    kept = sum(r.kept for r in results)
    where = args.records or user_dir() / file_name(isa)
    print(f"{kept} of {len(results)} entries tuned, saved to {where}: `wasmops build` compiles them next time")
    return 0


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "tune",
        parents=[common],
        help="auto-tune a model's whole-graph kernels (or, --ops, the op library's tiles) on the wasm target",
    )
    p.add_argument("model", nargs="?", help="the .onnx file")
    p.add_argument(
        "--ops",
        action="store_true",
        help="tune the op library's dense / matmul / conv tiles per shape class on the benchmark layer shapes "
        "instead; `wasmops build` uses the records after",
    )
    p.add_argument(
        "--search",
        choices=("all", "convs", "meta"),
        default="all",
        help="convs: our conv schedules' decisions (algorithm, tile, blocking) per conv; meta: MetaSchedule on "
        "the other kernels; all: convs, then meta in the time left (default)",
    )
    p.add_argument("--trials", type=int, default=64, help="MetaSchedule trials per kernel (default 64)")
    p.add_argument("--budget", type=float, default=30.0, metavar="MIN", help="search minutes in all (default 30)")
    p.add_argument("--threads", type=int, default=1, help="threads the kernels are timed on (default 1)")
    p.add_argument("--input-shape", action="append", metavar="NAME=1x3x224x224", help="a symbolic input's shape")
    p.add_argument("--no-relaxed", action="store_true", help="tune the SIMD128 build (no relaxed-SIMD FMA)")
    p.add_argument(
        "--kernel", action="append", metavar="PART", help="tune only kernels whose name contains PART (repeatable)"
    )
    p.add_argument("--records", type=Path, help="the records file to write (default: the user's cache dir)")
    p.add_argument(
        "--no-check", action="store_true", help="skip the last step: the whole model with and without the records"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_tune)

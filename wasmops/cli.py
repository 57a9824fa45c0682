"""The `wasmops` command: build the op library, inspect it, compile whole graphs, run models, run the demo."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def _build(args: argparse.Namespace) -> int:
    from .kernels.builder import ISAS, build_library

    isas = ("simd128",) if args.no_relaxed else tuple(ISAS)
    only = args.ops.split(",") if args.ops else None
    for path in build_library(Path(args.out) if args.out else None or _default_out(), only, isas, args.jobs):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


def _default_out() -> Path:
    from .kernels.builder import DEFAULT_OUT

    return DEFAULT_OUT


def _info(args: argparse.Namespace) -> int:
    from .kernels import manifest
    from .kernels.runtime import default_library

    path = Path(args.library) if args.library else default_library()
    data = path.read_bytes()
    if manifest.split_sections(data, "wasmops.graph")[1] is not None:
        return _graph_info(path, data)
    _, man = manifest.read(data)
    print(
        f"{path}: {len(man.kernels)} kernels, isa {man.isa}, TVM {man.info.get('tvm_version')}, "
        f"hash {man.content_hash[:16]}"
    )
    for k in man.kernels:
        print(f"{k.index:4d}  {k.name:36s} {k.op:20s} ({', '.join(k.params)})")
    return 0


def _graph_info(path: Path, data: bytes) -> int:
    from .kernels import graph_format

    doc = graph_format.read(data)
    w = doc["weights"]
    print(
        f"{path}: compiled graph, {len(doc['steps'])} steps, isa {doc['isa']}, TVM {doc['build']['tvm_version']}, "
        f"arena {doc['arena_bytes'] >> 10} KiB, weights {w['bytes'] >> 10} KiB ({w['mode']}), "
        f"source model {doc['source_sha256'][:16]}"
    )
    for kind in ("inputs", "outputs"):
        for e in doc[kind]:
            print(f"  {kind[:-1]:6s} {e['name']}: {e['dtype']}{tuple(e['shape'])}")
    return 0


def _ops(args: argparse.Namespace) -> int:
    from .registry.coverage import coverage, readme_block

    if args.readme:
        print(readme_block())
        return 0
    rows = coverage(args.frontend)
    supported = [r for r in rows if r[1]]
    print(f"{args.frontend}: {len(supported)} of {len(rows)} operators supported")
    for name, ok, detail in rows:
        if ok or args.all:
            print(f"  {'yes' if ok else ' - '}  {name:28s} {detail}")
    if not args.all and len(supported) < len(rows):
        print(f"  ({len(rows) - len(supported)} unsupported not shown; --all lists them)")
    return 0


def _compile(args: argparse.Namespace) -> int:
    from .graph import compile_graph

    out = Path(args.output) if args.output else Path(args.model).with_suffix(".wasm")
    isa = "simd128" if args.no_relaxed else "relaxed-simd"
    path = compile_graph(args.model, out, weights=args.weights, isa=isa, progress=not args.quiet)
    side = path.with_suffix(".weights")
    extra = f" + {side} ({side.stat().st_size >> 20} MiB)" if side.exists() else ""
    print(f"wrote {path} ({path.stat().st_size >> 20} MiB){extra}")
    return 0


def _run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    if args.model.endswith(".wasm"):  # a whole graph compiled by `wasmops compile`
        from .graph import InferenceSession as GraphSession

        sess = GraphSession(args.model)
        mode = "whole graph"
    else:
        from .onnx import InferenceSession

        sess = InferenceSession(args.model)
        mode = "plan runner"
    feeds = {}
    for item in args.input:
        name, _, path = item.partition("=")
        feeds[name] = np.load(path)
    for arg in sess.get_inputs():
        if arg.name not in feeds:  # unspecified inputs: seeded random data of the declared shape
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in arg.shape]
            dtype = np.float32 if "float" in arg.type else np.int64
            feeds[arg.name] = np.random.default_rng(0).standard_normal(shape).astype(dtype)
            print(f"input {arg.name}: random {dtype.__name__}{tuple(shape)}")
    outputs = sess.run(None, feeds)
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append(time.perf_counter() - t0)
    for arg, out in zip(sess.get_outputs(), outputs, strict=True):
        print(f"output {arg.name}: {out.dtype}{out.shape}")
    if times:
        print(f"{np.median(times) * 1e3:.2f} ms per run (median of {len(times)}, {mode})")
    if args.output:
        np.savez(args.output, **{a.name: o for a, o in zip(sess.get_outputs(), outputs, strict=True)})
        print(f"wrote {args.output}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import main

    return main([args.which])


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `wasmops info | head` ends quietly, like other command-line tools
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(prog="wasmops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="compile every op with TVM and link the op library")
    p.add_argument("--out", help="output folder (default: the package's kernels/lib)")
    p.add_argument("--ops", help="comma-separated op names (default: all)")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile processes (default: cores)")
    p.add_argument("--no-relaxed", action="store_true", help="skip the relaxed-SIMD build")
    p.set_defaults(func=_build)
    p = sub.add_parser("info", help="describe an op library (its kernels) or a compiled graph, from its manifest")
    p.add_argument("library", nargs="?", help="an op library or compiled graph (default: the installed library)")
    p.set_defaults(func=_info)
    p = sub.add_parser("ops", help="print the operator coverage of a frontend")
    p.add_argument("--frontend", choices=["onnx", "numpy", "mindspore"], default="onnx")
    p.add_argument("--all", action="store_true", help="list unsupported operators too")
    p.add_argument("--readme", action="store_true", help="print the README's generated operator list")
    p.set_defaults(func=_ops)
    p = sub.add_parser("compile", help="compile an ONNX model into one self-contained .wasm (whole graph)")
    p.add_argument("model", help="the .onnx file")
    p.add_argument("-o", "--output", help="the .wasm to write (default: the model's name with .wasm)")
    p.add_argument(
        "--weights",
        choices=["auto", "embed", "file"],
        default="auto",
        help="embed the weights in the module, or write them to a .weights side file (auto: above 256 MiB)",
    )
    p.add_argument("--no-relaxed", action="store_true", help="plain SIMD128 (no relaxed-SIMD FMA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_compile)
    p = sub.add_parser("run", help="run an ONNX model op by op, or a compiled .wasm graph")
    p.add_argument("model", help="an .onnx model (op by op) or a .wasm from `wasmops compile`")
    p.add_argument("--input", action="append", default=[], metavar="NAME=file.npy")
    p.add_argument("--output", help="save the outputs to this .npz")
    p.add_argument("--repeat", type=int, default=10, help="timed runs (default 10)")
    p.set_defaults(func=_run)
    p = sub.add_parser("demo", help="ResNet-50 three ways (whole graph, op by op, onnxruntime); 'lenet': a small tour")
    p.add_argument("which", nargs="?", choices=["resnet50", "lenet"], default="resnet50")
    p.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

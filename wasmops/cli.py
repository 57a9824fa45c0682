"""The `wasmops` command: build the op library, inspect it, compile and tune whole graphs, run models, the demo.

Errors print one line (what went wrong, and what to do) and exit 1; `--debug` shows the traceback and logs
what the library does; `--verbose` logs it without tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from ._logging import configure_logging

#: a missing module -> the extra that brings it
_EXTRAS = {
    "onnx": "pip install 'wasmops[onnx]'",
    "tvm": "pip install 'wasmops[build]' (TVM is needed to build the op library and to compile graphs)",
    "tvm_ffi": "pip install 'wasmops[build]'",
    "ziglang": "pip install 'wasmops[build]'",
    "tqdm": "pip install 'wasmops[build]'",
    "mindspore": "pip install 'wasmops[mindspore]'",
    "onnxruntime": "pip install onnxruntime (the demo compares with it)",
    "xgboost": "pip install 'wasmops[tune]'",
}


def _build(args: argparse.Namespace) -> int:
    from .kernels.builder import ISAS, build_library

    isas = ("simd128",) if args.no_relaxed or args.deterministic else tuple(ISAS)
    only = args.ops.split(",") if args.ops else None
    for path in build_library(Path(args.out) if args.out else None or _default_out(), only, isas, args.jobs):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


def _default_out() -> Path:
    from .kernels.builder import DEFAULT_OUT

    return DEFAULT_OUT


def versions() -> dict[str, str]:
    """wasmops, wasmtime, numpy and TVM versions (TVM: only needed to build and compile)."""
    import importlib.metadata

    from . import __version__

    found = {"wasmops": __version__}
    for dist in ("wasmtime", "numpy", "apache-tvm", "onnx", "mindspore"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def _version_text() -> str:
    v = versions()
    return (
        f"wasmops {v['wasmops']}\nwasmtime {v['wasmtime']}\nnumpy {v['numpy']}\n"
        f"TVM {v['apache-tvm']}{'' if v['apache-tvm'] != 'not installed' else ' (needed only to build and compile)'}"
    )


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the wasmops, wasmtime, numpy and TVM versions")

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version_text())
        parser.exit()


def _info(args: argparse.Namespace) -> int:
    from .kernels import manifest
    from .kernels.runtime import default_library

    v = versions()
    print(f"wasmops {v['wasmops']}, wasmtime {v['wasmtime']}, numpy {v['numpy']}")
    path = Path(args.library) if args.library else default_library()
    data = path.read_bytes()
    if manifest.split_sections(data, "wasmops.graph")[1] is not None:
        return _graph_info(path, data)
    _, man = manifest.read(data)
    print(
        f"{path}: {len(man.kernels)} kernels, isa {man.isa}, TVM {man.info.get('tvm_version')}, "
        f"hash {man.content_hash[:16]}"
    )
    tiles = man.info.get("tiles", {})
    for k in man.kernels:
        tile = f"  tile {tiles[k.name]}" if k.name in tiles else ""
        print(f"{k.index:4d}  {k.name:36s} {k.op:20s} ({', '.join(k.params)}){tile}")
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


def _input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]] | None:
    """`NAME=1x3x736x736` (a 0-d input: `NAME=`) -> {name: shape}."""
    shapes = {}
    for spec in specs or []:
        name, sep, dims = spec.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split("x")) if dims else ()
        except ValueError:
            raise SystemExit(f"wasmops compile: --input-shape expects NAME=1x3x224x224, got {spec!r}") from None
    return shapes or None


def _compile(args: argparse.Namespace) -> int:
    import warnings

    from .graph import compile_graph

    # default: the current folder, never next to the model (which may be inside site-packages)
    out = Path(args.output) if args.output else Path.cwd() / (Path(args.model).stem + ".wasm")
    isa = "simd128" if args.no_relaxed or args.deterministic else "relaxed-simd"
    with warnings.catch_warnings():
        if args.quiet:  # TVM's importer warns about harmless things (e.g. shape-less value infos)
            warnings.simplefilter("ignore")
        path = compile_graph(
            args.model,
            out,
            input_shapes=_input_shapes(args.input_shape),
            weights=args.weights,
            isa=isa,
            deterministic=args.deterministic,
            progress=not args.quiet,
        )
    side = path.with_suffix(".weights")
    extra = f" + {side} ({side.stat().st_size >> 20} MiB)" if side.exists() else ""
    print(f"wrote {path} ({path.stat().st_size >> 20} MiB){extra}")
    return 0


def _run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from .cli_inputs import load_inputs, random_inputs

    if args.model.endswith(".wasm"):  # a whole graph compiled by `wasmops compile`
        from .graph import InferenceSession as GraphSession

        sess = GraphSession(args.model)
        mode = "whole graph"
    else:
        from .onnx import InferenceSession

        sess = InferenceSession(args.model)
        mode = "plan runner"
    inputs = sess.get_inputs()
    feeds = load_inputs(args.input, inputs)
    missing = [a for a in inputs if a.name not in feeds]
    if missing and not args.random_inputs:
        listed = ", ".join(f"{a.name} ({a.type}{a.shape})" for a in missing)
        raise UsageError(
            f"no data for input(s) {listed}: give --input NAME=file.npy (or .npz), "
            "or --random-inputs for seeded random data"
        )
    for name, arr in random_inputs(missing).items():
        feeds[name] = arr
        print(f"input {name}: random {arr.dtype}{arr.shape}")
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


def _export_program(args: argparse.Namespace) -> int:
    from .onnx import InferenceSession

    sess = InferenceSession(args.model)
    path = sess.export_program(args.output, _input_shapes(args.input_shape))
    print(f"wrote {path} ({path.stat().st_size >> 10} KiB): node bindings/js/run.mjs {path} --input NAME=x.npy ...")
    return 0


def _export_web(args: argparse.Namespace) -> int:
    from .bindings.web_export import export_web

    out = export_web(
        args.model, args.output, isa=args.isa, input_shapes=_input_shapes(args.input_shape), progress=not args.quiet
    )
    print(f"wrote {out}/ ({sum(f.stat().st_size for f in out.rglob('*') if f.is_file()) >> 20} MiB)")
    print(f"  serve it: python {out / 'serve.py'}   (sends the COOP/COEP headers threads need)")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import main

    return main([args.which])


class UsageError(ValueError):
    """A command line that cannot work as given (the message says what to give instead)."""


def _hint(exc: BaseException, command: str) -> str:
    if isinstance(exc, ModuleNotFoundError) and command == "compile":
        return "pip install 'wasmops[build,onnx]' (compiling a graph needs TVM and onnx)"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top in _EXTRAS:
            return _EXTRAS[top]
    return ""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)  # accepted before or after the command
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks and debug logs")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log what runs")
    parser = argparse.ArgumentParser(prog="wasmops", description=__doc__, parents=[common])
    parser.add_argument("-V", "--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", parents=[common], help="compile every op with TVM and link the op library")
    p.add_argument("--out", help="output folder (default: the package's kernels/lib)")
    p.add_argument("--ops", help="comma-separated op names (default: all)")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile processes (default: cores)")
    p.add_argument("--no-relaxed", action="store_true", help="skip the relaxed-SIMD build")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="only the SIMD128 library (no relaxed-SIMD op); run it with WASMOPS_DETERMINISTIC=1",
    )
    p.set_defaults(func=_build)
    p = sub.add_parser(
        "info", parents=[common], help="versions, and an op library's kernels or a compiled graph's manifest"
    )
    p.add_argument("library", nargs="?", help="an op library or compiled graph (default: the installed library)")
    p.set_defaults(func=_info)
    p = sub.add_parser("ops", parents=[common], help="print the operator coverage of a frontend")
    p.add_argument("--frontend", choices=["onnx", "numpy", "mindspore"], default="onnx")
    p.add_argument("--all", action="store_true", help="list unsupported operators too")
    p.add_argument("--readme", action="store_true", help="print the README's generated operator list")
    p.set_defaults(func=_ops)
    p = sub.add_parser(
        "compile", parents=[common], help="compile an ONNX model into one self-contained .wasm (whole graph)"
    )
    p.add_argument("model", help="the .onnx file")
    p.add_argument("-o", "--output", help="the .wasm to write (default: the model's name + .wasm, in this folder)")
    p.add_argument(
        "--weights",
        choices=["auto", "embed", "file"],
        default="auto",
        help="embed the weights in the module, or write them to a .weights side file (auto: above 256 MiB)",
    )
    p.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=1x3x736x736",
        help="the size of an input with symbolic dims (repeat per input): the module is compiled for it",
    )
    p.add_argument("--no-relaxed", action="store_true", help="plain SIMD128 (no relaxed-SIMD FMA)")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="SIMD128 only, no relaxed-SIMD op: the same output bits under every engine and CPU",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, no compiler warnings")
    p.set_defaults(func=_compile)
    p = sub.add_parser("run", parents=[common], help="run an ONNX model op by op, or a compiled .wasm graph")
    p.add_argument("model", help="an .onnx model (op by op) or a .wasm from `wasmops compile`")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an input's data: NAME=x.npy, NAME=data.npz (its array NAME, or its only array), a plain .npz "
        "(one array per input name) or a plain .npy for a model with one input; repeat per input",
    )
    p.add_argument(
        "--random-inputs", action="store_true", help="feed seeded random data to every input not given by --input"
    )
    p.add_argument("--output", help="save the outputs to this .npz")
    p.add_argument("--repeat", type=int, default=10, help="timed runs (default 10)")
    p.set_defaults(func=_run)
    p = sub.add_parser(
        "export-program",
        parents=[common],
        help="write an ONNX model's op-by-op program for fixed input shapes, for the JS loader (bindings/js)",
    )
    p.add_argument("model", help="the .onnx file")
    p.add_argument("-o", "--output", required=True, help="the program file to write (e.g. model.prog)")
    p.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=1x3x224x224",
        help="the shape of an input with symbolic dims (repeat per input): the program is made for it",
    )
    p.set_defaults(func=_export_program)
    p = sub.add_parser(
        "export-web",
        parents=[common],
        help="a folder a static server serves as is: the compiled model, the JS loader and a page running it",
    )
    p.add_argument("model", help="an .onnx model (compiled here) or a .wasm from `wasmops compile`")
    p.add_argument("-o", "--output", required=True, help="the folder to write")
    p.add_argument(
        "--isa",
        choices=["both", "simd128", "relaxed-simd"],
        default="both",
        help="builds of an .onnx model (both: the page prefers relaxed SIMD where the browser has it)",
    )
    p.add_argument("--input-shape", action="append", metavar="NAME=1x3x224x224", help="a symbolic input's shape")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_export_web)
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="ResNet-50 three ways (whole graph, op by op, onnxruntime); 'lenet': a small tour",
    )
    p.add_argument("which", nargs="?", choices=["resnet50", "lenet"], default="resnet50")
    p.set_defaults(func=_demo)
    from .cli_tune import add_parser

    add_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `wasmops info | head` ends quietly, like other command-line tools
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = _parser()
    args = parser.parse_args(argv)
    debug, verbose = getattr(args, "debug", False), getattr(args, "verbose", False)
    if debug or verbose:
        configure_logging(logging.DEBUG if debug else logging.INFO)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("wasmops: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip() or type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename and exc.strerror is not None:
            message = f"{exc.strerror}: {exc.filename}"  # OSError's own text repeats [Errno 2]
        kind = "" if isinstance(exc, UsageError) else f"{type(exc).__name__}: "
        print(f"wasmops {args.command}: error: {kind}{message}", file=sys.stderr)
        if isinstance(exc, UsageError):
            return 2
        hint = _hint(exc, args.command)
        print(f"  hint: {hint}" if hint else "  (--debug shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

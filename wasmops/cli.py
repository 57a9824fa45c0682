"""The `wasmops` command: build the op library, inspect one, run the demo."""

from __future__ import annotations

import argparse
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
    _, man = manifest.read(path)
    print(
        f"{path}: {len(man.kernels)} kernels, isa {man.isa}, TVM {man.info.get('tvm_version')}, "
        f"hash {man.content_hash[:16]}"
    )
    for k in man.kernels:
        print(f"{k.index:4d}  {k.name:36s} {k.op:20s} ({', '.join(k.params)})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import main

    return main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="compile every op with TVM and link the op library")
    p.add_argument("--out", help="output folder (default: the package's kernels/lib)")
    p.add_argument("--ops", help="comma-separated op names (default: all)")
    p.add_argument("--jobs", type=int, default=None, help="parallel compile processes (default: cores)")
    p.add_argument("--no-relaxed", action="store_true", help="skip the relaxed-SIMD build")
    p.set_defaults(func=_build)
    p = sub.add_parser("info", help="list the kernels of an op library, read from its manifest")
    p.add_argument("library", nargs="?", help="path to a .wasm op library (default: the installed one)")
    p.set_defaults(func=_info)
    p = sub.add_parser("demo", help="LeNet-5 forward pass op by op on wasm kernels vs numpy")
    p.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`wasmops build`: compile every op with TVM to a wasm32 object, link them into one op library.

Build-time only (needs the [build] extra: apache-tvm, ziglang, tqdm). Objects are cached per op and ISA
under a key made of everything that decides their bytes (op source, shared schedule code, TVM version,
target), so changing one op recompiles that op only. Linking and the manifest are deterministic:
the same sources give the same content hash.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import ops as ops_pkg
from ..ops import all_ops
from ..ops._tile_sizes import HAND, Tile
from ..ops.spec import Kernel
from . import manifest as mf

log = logging.getLogger("wasmops.build")

HERE = Path(__file__).parent
SUPPORT_C = HERE / "wasm_support.c"
DEFAULT_OUT = HERE / "lib"
ISAS = {"simd128": "wasmops.wasm", "relaxed-simd": "wasmops-relaxed.wasm"}
STACK_BYTES = 1 << 20
MAX_MEMORY = 1 << 32  # a shared memory must declare its maximum: all of wasm32


@dataclass(frozen=True)
class Unit:
    """One cached object: all kernels of one op for one ISA."""

    op: str
    isa: str
    key: str

    @property
    def filename(self) -> str:
        return f"{self.op}-{self.isa}-{self.key[:20]}.o"


_IMPORT = re.compile(r"^\s*from \.(\w*) import ([\w, ()]+)", re.MULTILINE)


def _local_imports(source: str) -> set[str]:
    """The ops-package modules a module's source imports (`from .x import ...`, `from . import x, y`)."""
    found = set()
    for module, names in _IMPORT.findall(source):
        found |= {n.strip() for n in names.strip("()").split(",") if n.strip()} if not module else {module}
    return found


def _sources(op_module: str) -> bytes:
    """Every ops-package module an op's kernels may depend on: its own module and, transitively, the ops
    modules it imports (private helpers and other op files alike), plus the spec and shared schedules."""
    root = Path(ops_pkg.__file__).parent
    seen, todo = set(), [op_module, "spec", "simd_schedules"]
    while todo:
        name = todo.pop()
        path = root / f"{name}.py"
        if name in seen or not path.exists():
            continue
        seen.add(name)
        todo += sorted(_local_imports(path.read_text()))
    return b"".join(name.encode() + b"\0" + (root / f"{name}.py").read_bytes() for name in sorted(seen))


def _op_modules(op) -> list[str]:
    """The ops modules that define an op: its class's, and for a table row (unary, binary families) the
    modules of the row's functions (sin's row lives in unary_math, its class in unary)."""
    found = {type(op).__module__}
    row = getattr(op, "row", None)
    fields = getattr(row, "__dataclass_fields__", {})
    found |= {getattr(getattr(row, f), "__module__", None) for f in fields} - {None}
    prefix = ops_pkg.__name__ + "."
    return sorted(m[len(prefix) :] for m in found if m.startswith(prefix))


def _unit_key(op_name: str, isa: str, tvm_version: str, tiles: dict[str, Tile]) -> str:
    op = all_ops()[op_name]
    h = hashlib.sha256()
    for part in (
        *map(_sources, _op_modules(op)),
        tvm_version.encode(),
        isa.encode(),
        b"\0".join(f"{name}={symbol}".encode() for name, _, symbol in _entries(op, tiles)),
    ):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _entries(op, tiles: dict[str, Tile]) -> list[tuple[str, Kernel, str]]:
    """(dispatch name, kernel, compiled symbol) of every entry of `op`: a tunable kernel's class entries share
    the symbol of the tile `tiles` names for them (the hand kernel's where none), so each tile compiles once."""
    found = []
    for k in op.kernels():
        for name in k.entries():
            tile = tiles.get(name, HAND)
            found.append((name, k, k.name if tile == HAND else f"{k.name}__{tile.name}"))
    return found


def _compile_unit(op_name: str, isa: str, out: str, tiles: dict[str, Tile]) -> str:
    """Worker: build every kernel of one op (each tuned tile once) as PrimFuncs, compile them into one object."""
    import tvm

    from ..ops.simd_schedules import wasm_target

    op = all_ops()[op_name]
    funcs = {}
    for name, k, symbol in _entries(op, tiles):
        if symbol not in funcs:
            func = k.build(tile=tiles[name]) if symbol != k.name else k.build()
            funcs[symbol] = func.with_attr("global_symbol", symbol)
    lib = tvm.compile(tvm.IRModule(funcs), target=wasm_target(relaxed=isa == "relaxed-simd"))
    tmp = out[: -len(".o")] + ".tmp.o"
    lib.mod.write_to_file(tmp)
    os.replace(tmp, out)
    return out


def zig_env(workdir: Path) -> dict[str, str]:
    """The environment for zig inside a temporary `workdir`: its caches there too.

    zig keeps every object it compiles in ~/.cache/zig and never prunes it; a graph's C file embeds the
    model's weights, so each compiled model would leave hundreds of MB behind (69 GB had piled up here)."""
    cache = str(workdir / ".zig-cache")
    return {**os.environ, "ZIG_GLOBAL_CACHE_DIR": cache, "ZIG_LOCAL_CACHE_DIR": cache}


def _zig(*args: str, cwd: Path | None = None) -> None:
    env = zig_env(cwd) if cwd is not None else None
    proc = subprocess.run([sys.executable, "-m", "ziglang", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"`zig {' '.join(args[:2])} ...` failed:\n{proc.stderr[-4000:]}")


def _table_source(symbols: list[str]) -> str:
    """The dispatch table over `symbols` (an entry per dispatch name; names sharing a kernel repeat it)."""
    decls = "\n".join(f"extern int32_t __tvm_ffi_{n}(void*, void*, int32_t, void*);" for n in dict.fromkeys(symbols))
    entries = ",\n  ".join(f"__tvm_ffi_{n}" for n in symbols)
    return (
        "/* Generated by wasmops.kernels.builder: the dispatch table. Do not edit. */\n#include <stdint.h>\n"
        "typedef int32_t (*wasmops_kernel_fn)(void*, void*, int32_t, void*);\n"
        f"{decls}\nconst wasmops_kernel_fn wasmops_kernels[] = {{\n  {entries}\n}};\n"
        f"const int32_t wasmops_kernel_count = {len(symbols)};\n"
    )


def _link(objects: list[Path], symbols: list[str], isa: str, workdir: Path) -> bytes:
    (workdir / "table.c").write_text(_table_source(symbols))
    return link_module(workdir, ["table.c"], objects)


def link_module(workdir: Path, c_sources: list[str], objects: list[Path], cflags: tuple[str, ...] = ()) -> bytes:
    """Compile the support C and `c_sources` (in `workdir`) and link them with `objects` into one module.

    Shared by the op library (dispatch table) and compiled graphs (executor): same flags, same exports."""
    base = ["--target=wasm32-freestanding", "-O2", "-msimd128", "-matomics", "-mbulk-memory", "-ffreestanding"]
    base += ["-fno-builtin", *cflags]
    _zig("cc", *base, "-c", str(SUPPORT_C), "-o", "support.o", cwd=workdir)
    built = []
    for source in c_sources:
        built.append(str(Path(source).with_suffix(".o")))
        _zig("cc", *base, "-c", source, "-o", built[-1], cwd=workdir)
    _zig(
        "wasm-ld",
        "--no-entry",
        "--export-table",
        "--export=__stack_pointer",
        # one memory shared by the instances of a thread pool (kernels/runtime.py): the host creates it
        "--shared-memory",
        "--import-memory",
        f"--max-memory={MAX_MEMORY}",
        "--strip-all",
        "-O2",
        "-z",
        f"stack-size={STACK_BYTES}",
        "--error-limit=0",
        "-o",
        "module.wasm",
        "support.o",
        *built,
        *map(str, objects),
        cwd=workdir,
    )
    return (workdir / "module.wasm").read_bytes()


def build_library(
    out_dir: Path = DEFAULT_OUT,
    only: list[str] | None = None,
    isas: tuple[str, ...] = tuple(ISAS),
    jobs: int | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    tuned: bool = True,
) -> list[Path]:
    """Compile (or reuse) every op object, link one library per ISA, write it with its manifest.

    `tuned`: build the tunable kernels' shape-class entries with the op-tile records' tiles (else all hand)."""
    import tvm
    from tqdm import tqdm

    table = all_ops()
    names = set(only) if only else {op.name for op in table}
    while missing := {u for n in names for u in table[n].uses} - names:  # a KeyError lists the known ops
        names |= missing
    names = sorted(names)
    cache = Path(cache_dir or os.environ.get("WASMOPS_BUILD_CACHE", Path.cwd() / "build" / "objects"))
    cache.mkdir(parents=True, exist_ok=True)
    tiles = {isa: _tiles(isa, table) if tuned else {} for isa in isas}
    units = [Unit(n, isa, _unit_key(n, isa, tvm.__version__, tiles[isa])) for isa in isas for n in names]
    todo = [u for u in units if not (cache / u.filename).exists()]
    log.info("op objects: %d cached in %s, %d to compile", len(units) - len(todo), cache, len(todo))
    jobs = jobs or max(1, min(len(todo), os.cpu_count() or 1))
    if todo:
        ctx = multiprocessing.get_context("spawn")
        with (
            cf.ProcessPoolExecutor(jobs, mp_context=ctx) as pool,
            tqdm(total=len(todo), desc="compiling ops", unit="op", disable=not progress) as bar,
        ):
            futures = {pool.submit(_compile_unit, u.op, u.isa, str(cache / u.filename), tiles[u.isa]): u for u in todo}
            for fut in cf.as_completed(futures):
                u = futures[fut]
                try:
                    fut.result()
                except Exception as exc:
                    raise RuntimeError(f"compiling op {u.op!r} for {u.isa} failed: {exc}") from exc
                log.debug("compiled op %s (%s)", u.op, u.isa)
                bar.set_postfix_str(f"{u.op} ({u.isa})")
                bar.update()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for isa in isas:
        entries = [(op.name, *e) for op in (table[n] for n in names) for e in _entries(op, tiles[isa])]
        objects = [cache / u.filename for u in units if u.isa == isa]
        with tempfile.TemporaryDirectory() as tmp:
            module = _link(objects, [symbol for *_, symbol in entries], isa, Path(tmp))
        info = {
            "tvm_version": tvm.__version__,
            "target": "wasm32-unknown-unknown-wasm",
            "features": sorted(_features(isa)),
            "ops": names,
            "tiles": {name: tiles[isa][name].name for _, name, _, _ in entries if name in tiles[isa]},
        }
        man = mf.Manifest(
            tuple(mf.KernelEntry(i, name, op, k.params) for i, (op, name, k, _) in enumerate(entries)),
            isa,
            mf.content_hash(module),
            info,
        )
        path = out_dir / ISAS[isa]
        tmp_path = path.with_suffix(".tmp")
        tmp_path.write_bytes(mf.attach(module, man))
        os.replace(tmp_path, path)
        log.info("linked %s: %d kernels, %d KiB", path, len(entries), path.stat().st_size >> 10)
        written.append(path)
    return written


def _tiles(isa: str, table) -> dict[str, Tile]:
    """The op-tile records for `isa` that name a tunable entry and a tile its kernel allows (others warned)."""
    from .tune import op_records

    allowed = {name: k.tiles for _, k in table.kernels() if k.tiles for name in k.entries()[1:]}
    tiles = {}
    for name, tile in op_records.load(isa).items():
        if tile == HAND:  # what the entry is built with anyway
            continue
        if tile not in allowed.get(name, ()):
            log.warning("op-tile record %s=%s (%s): no such tunable entry or tile; built by hand", name, tile.name, isa)
            continue
        tiles[name] = tile
    return tiles


def _features(isa: str) -> set[str]:
    from ..ops.simd_schedules import wasm_target

    return {a.lstrip("+") for a in wasm_target(relaxed=isa == "relaxed-simd").attrs["mattr"]}

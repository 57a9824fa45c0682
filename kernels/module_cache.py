"""Where the op library lives and how compiled wasm modules are cached on disk (wasmtime + hashlib only).

wasmtime compiles a module once per machine: the compiled code is kept in ~/.cache/wasmops (or
$WASMOPS_CACHE_DIR), keyed by the module's content hash and the wasmtime version, verified by its sha256
before use, and pruned least-recently-used beyond $WASMOPS_CACHE_MAX_MB.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import wasmtime

from .manifest import LibraryError

LIB_DIR = Path(__file__).parent / "lib"
log = logging.getLogger("wasmops.cache")


def default_library(relaxed: bool | None = None) -> Path:
    """The library file to load: $WASMOPS_LIBRARY, else the relaxed-SIMD build if wanted and present.

    $WASMOPS_DETERMINISTIC=1 (when `relaxed` is not given) picks the SIMD128 build: bitwise reproducible on
    every engine and CPU, where relaxed-SIMD FMA is reproducible only under wasmtime."""
    env = os.environ.get("WASMOPS_LIBRARY")
    if env:
        return Path(env)
    if relaxed is None and os.environ.get("WASMOPS_DETERMINISTIC", "") not in ("", "0"):
        relaxed = False
    relaxed_path = LIB_DIR / "wasmops-relaxed.wasm"
    if relaxed is not False and relaxed_path.exists():
        return relaxed_path
    path = LIB_DIR / "wasmops.wasm"
    if not path.exists():
        raise FileNotFoundError(
            f"no op library at {path}. In a source checkout, `make build` builds it (it needs the [build] extra); "
            "an installed wheel should contain it: reinstall from a wheel made by `make wheel`, or point "
            "$WASMOPS_LIBRARY at a wasmops.wasm"
        )
    return path


def _cache_dir() -> Path:
    root = os.environ.get("WASMOPS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "wasmops"
    )
    return Path(root)


def cache_dir() -> Path:
    """wasmops's cache folder: $WASMOPS_CACHE_DIR, else $XDG_CACHE_HOME/wasmops (~/.cache/wasmops)."""
    return _cache_dir()


def _load_module(engine: wasmtime.Engine, data: bytes, key: str) -> wasmtime.Module:
    """Compile the module, or deserialize the compiled code cached for this exact module + engine."""
    cache = _cache_dir() / f"{key}.cwasm"
    digest = cache.with_suffix(".sha256")
    try:
        blob = cache.read_bytes()
        if hashlib.sha256(blob).hexdigest() == digest.read_text().strip():
            module = wasmtime.Module.deserialize(engine, blob)
            os.utime(cache)  # recently used: pruned last
            log.debug("compiled module cache hit: %s", cache)
            return module
    except (OSError, wasmtime.WasmtimeError):
        pass
    log.info("compiling %s with wasmtime (%d KiB; cached in %s afterwards)", key, len(data) >> 10, cache.parent)
    try:
        module = wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as exc:
        raise LibraryError(f"wasmtime refused the module: {str(exc).splitlines()[0]}") from None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        blob = module.serialize()
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(blob)
        os.replace(tmp, cache)
        digest.write_text(hashlib.sha256(blob).hexdigest())
        _prune_cache(cache.parent, keep=cache)
    except OSError:
        pass  # a read-only cache only costs compile time
    return module


def _prune_cache(folder: Path, keep: Path) -> None:
    """Drop the least recently used compiled modules beyond $WASMOPS_CACHE_MAX_MB (default 2048).

    Each compiled graph adds one (ResNet-50's is ~100 MB) and a changed compiler makes new ones, so
    without a cap the cache grows with every rebuild.
    """
    setting = os.environ.get("WASMOPS_CACHE_MAX_MB", "2048")
    if not setting.isdigit():
        raise ValueError(f"WASMOPS_CACHE_MAX_MB must be a whole number of MiB, got {setting!r}")
    budget = int(setting) << 20
    entries = []
    for path in folder.glob("*.cwasm"):
        try:
            stat = path.stat()
        except OSError:
            continue  # another process pruned it
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= budget:
            break
        if path != keep:
            log.info("cache over $WASMOPS_CACHE_MAX_MB: removed %s", path.name)
            path.unlink(missing_ok=True)
            path.with_suffix(".sha256").unlink(missing_ok=True)
            total -= size

"""The builder: reproducible output, per-op object cache, CLI `wasmops info`."""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
import sys

import pytest

from wasmops.kernels import manifest
from wasmops.ops import all_ops

pytest.importorskip("tvm", reason="the builder needs the [build] extra (apache-tvm)")
from wasmops.kernels.builder import build_library  # noqa: E402

OPS = ["relu", "dense"]


def test_same_sources_give_the_same_library(tmp_path):
    first = build_library(tmp_path / "a", OPS, ("simd128",), jobs=1, cache_dir=tmp_path / "ca", progress=False)
    second = build_library(tmp_path / "b", OPS, ("simd128",), jobs=1, cache_dir=tmp_path / "cb", progress=False)
    assert first[0].read_bytes() == second[0].read_bytes()
    _, man = manifest.read(first[0])
    # ops in name order, each op's kernels in its own order, a tunable kernel's shape-class entries after it
    expected = [e for name in sorted(OPS) for k in all_ops()[name].kernels() for e in k.entries()]
    assert [k.name for k in man.kernels] == expected
    assert {"f32_dense", "f32_dense__bulk", "f32_dense_row", "f32_relu", "i32_relu"} <= set(expected)


def test_cached_objects_are_not_recompiled(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    build_library(tmp_path / "a", OPS, ("simd128",), jobs=1, cache_dir=cache, progress=False)

    def no_compiling(*args, **kwargs):
        raise AssertionError("a cached op was compiled again")

    monkeypatch.setattr(cf, "ProcessPoolExecutor", no_compiling)
    (out,) = build_library(tmp_path / "b", OPS, ("simd128",), jobs=1, cache_dir=cache, progress=False)
    assert out.exists()


def test_unknown_op_lists_the_known_ones(tmp_path):
    with pytest.raises(KeyError, match="ops are: .*conv2d"):
        build_library(tmp_path, ["no_such_op"], ("simd128",), cache_dir=tmp_path, progress=False)


def test_cli_info_prints_one_line_per_kernel(runtime):
    out = subprocess.run(
        [sys.executable, "-m", "wasmops", "info", str(runtime.path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith("wasmops ") and "wasmtime " in out[0]  # the versions first
    assert len(out) == 2 + len(runtime.manifest.kernels)
    assert any("f32_conv2d_nchw_s1" in line and "conv2d" in line for line in out)


def test_zig_leaves_no_cache_behind(tmp_path, monkeypatch):
    # zig never prunes its cache; the objects of every build (a graph's embeds its weights) would pile up
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    build_library(tmp_path / "out", ["relu"], ("simd128",), jobs=1, cache_dir=tmp_path / "objects", progress=False)
    assert (tmp_path / "out" / "wasmops.wasm").exists()
    assert not (tmp_path / "xdg" / "zig").exists()


def test_a_rows_module_is_part_of_its_cache_key():
    """sin's class lives in ops/unary.py, its row (and its TE) in ops/unary_math.py: editing the row's module
    (or what it imports, ops/_fasttrig.py) must recompile sin, so the key covers both."""
    from wasmops.kernels.builder import _op_modules, _sources

    assert _op_modules(all_ops()["sin"]) == ["unary", "unary_math"]
    assert _op_modules(all_ops()["fmod"]) == ["binary", "binary_int"]
    assert b"_fasttrig\0" in _sources("unary_math")

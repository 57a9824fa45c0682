"""The aot shim's build step: compiled with the machine's C compiler into the cache, keyed by its source,
linked against the wasmtime library the wheel ships. Needs no MindSpore."""

from __future__ import annotations

import ctypes
import shutil

import pytest

from wasmops.bindings import ms_aot


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_shim_builds_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_CACHE_DIR", str(tmp_path))
    path = ms_aot.build_shim()
    assert path.parent == tmp_path and path.name.startswith("ms_aot-")
    mtime = path.stat().st_mtime_ns
    assert ms_aot.build_shim() == path and path.stat().st_mtime_ns == mtime  # cached, not rebuilt
    lib = ctypes.CDLL(str(path))
    assert lib.wasmops_aot_num_slots() == 2000
    assert lib.wasmops_slot_0 and lib.wasmops_slot_1000 and lib.wasmops_slot_1999


def test_compiler_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    with pytest.raises(ms_aot.AotBuildError, match="compiling ms_aot.c failed"):
        ms_aot.build_shim()

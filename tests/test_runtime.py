"""The op library as a whole: manifest, dispatch table, memory, error recovery, corrupt files, caches."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import wasmops
from wasmops.kernels import KernelError, LibraryError, Runtime, WasmTrap, manifest
from wasmops.kernels.runtime import default_library
from wasmops.ops import all_ops


def test_manifest_lists_every_op_and_kernel(runtime):
    man = runtime.manifest
    assert man.info["ops"] == sorted(op.name for op in all_ops())
    expected = {e: (op.name, k.params) for op, k in all_ops().kernels() for e in k.entries()}
    assert {k.name: (k.op, k.params) for k in man.kernels} == expected
    assert [k.index for k in man.kernels] == list(range(len(man.kernels)))
    assert man.isa in ("simd128", "relaxed-simd") and man.info["tvm_version"]


def test_every_table_entry_is_reachable(runtime):
    # Calling each entry with no arguments must reach that kernel's own TVM argument check.
    for entry in runtime.manifest.kernels:
        with pytest.raises(KernelError, match=entry.name) as err:
            runtime.call(entry.name, [])
        assert "argument" in str(err.value).lower(), str(err.value)


def test_tvm_argument_check_becomes_exception_and_runtime_recovers(runtime):
    x = runtime.alloc(64)
    try:
        f32 = np.dtype("float32")
        with pytest.raises(KernelError, match="f32_relu.*Mismatched"):  # output blocks differ from input's
            runtime.call("f32_relu", [(x, (1, 16), f32), (x, (2, 16), f32)])
        with pytest.raises(KernelError, match="f32_relu.*(dtype|type)"):  # wrong dtype reaches TVM's check
            runtime.call("f32_relu", [(x, (1, 16), np.dtype("int32")), (x, (1, 16), np.dtype("int32"))])
    finally:
        runtime.free(x)
    np.testing.assert_array_equal(wasmops.relu(np.array([-1.0, 2.0], np.float32)), [0.0, 2.0])


def test_wasm_trap_becomes_exception_and_runtime_recovers(runtime):
    f32 = np.dtype("float32")
    out_of_bounds = 0xFFFF_FF00  # beyond linear memory: the first load traps
    with pytest.raises(WasmTrap, match="f32_relu: wasm trap"):
        runtime.call("f32_relu", [(out_of_bounds, (4, 16), f32), (out_of_bounds, (4, 16), f32)])
    with pytest.raises(KernelError, match="not in"):
        runtime.call("f32_no_such_kernel", [])
    x = np.linspace(-1, 1, 33, dtype=np.float32)
    np.testing.assert_array_equal(wasmops.relu(x), np.maximum(x, 0))


def test_trap_after_importing_tvm_late_is_still_an_exception():
    # TVM's FFI library installs a SIGSEGV handler when it loads; imported after the runtime exists, it
    # used to replace wasmtime's trap handler and turn this trap into a crash. A fresh process, because
    # this one has imported TVM already.
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from wasmops.kernels import WasmTrap
        from wasmops.kernels.runtime import default_runtime
        runtime = default_runtime()
        import tvm  # noqa: F401
        assert "tvm" in sys.modules
        f32 = np.dtype("float32")
        try:
            runtime.call("f32_relu", [(0xFFFF_FF00, (4, 16), f32)] * 2)
        except WasmTrap as err:
            print("raised:", err)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "raised: f32_relu: wasm trap" in run.stdout


def test_no_leak_over_many_calls(runtime):
    x = np.random.default_rng(0).standard_normal((2, 8, 15, 15)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((4, 8, 3, 3)).astype(np.float32)
    for _ in range(3):
        wasmops.conv2d(x, w, padding=1)
    in_use, pages = runtime.bytes_in_use(), len(runtime.memory())
    for _ in range(200):
        wasmops.conv2d(x, w, padding=1)
        wasmops.dense(x.reshape(2, -1), np.ones((3, x[0].size), np.float32))
    assert runtime.bytes_in_use() <= in_use + (1 << 20)  # the arena may grow once for the dense call
    assert len(runtime.memory()) <= pages + (4 << 20)


def test_non_contiguous_and_fortran_inputs_work():
    a = np.asfortranarray(np.random.default_rng(2).standard_normal((6, 5)).astype(np.float32))
    b = np.random.default_rng(3).standard_normal((10, 7)).astype(np.float32)[::2, 1:6].T  # strided view
    np.testing.assert_allclose(wasmops.matmul(a, b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(wasmops.relu(a[:, ::2]), np.maximum(a[:, ::2], 0))


def test_outputs_are_owned_numpy_arrays(runtime):
    x = np.ones(5, np.float32)
    y = wasmops.relu(x)
    z = wasmops.neg(x)  # reuses the same wasm arena: y must not change
    assert y.flags.owndata and y.flags.c_contiguous and not np.shares_memory(y, runtime.memory())
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(z, -x)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "truncated|hash"),
        (lambda b: b[:500] + bytes([b[500] ^ 0xFF]) + b[501:], "hash|truncated|section"),
        (lambda b: b"not wasm at all", "not a wasm module"),
        (lambda b: manifest.split_sections(b)[0], "no wasmops manifest"),
    ],
    ids=["truncated", "flipped-byte", "garbage", "no-manifest"],
)
def test_corrupt_library_is_refused_at_load(tmp_path, damage, message, runtime):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(damage(default_library().read_bytes()))
    with pytest.raises(LibraryError, match=message):
        Runtime(bad)
    np.testing.assert_array_equal(wasmops.abs(np.array([-2], np.int32)), [2])  # the loaded runtime is intact


def test_compiled_module_cache_is_reused_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_CACHE_DIR", str(tmp_path))
    Runtime()
    cached = list(tmp_path.glob("*.cwasm"))
    assert len(cached) == 1
    cached[0].write_bytes(cached[0].read_bytes()[:100])  # a damaged cache entry is ignored, then rewritten
    rt = Runtime()
    assert rt.run(all_ops()["relu"].plan(np.array([-1.0, 3.0], np.float32))).tolist() == [0.0, 3.0]
    assert len(cached[0].read_bytes()) > 100


def test_compiled_module_cache_drops_least_recently_used_beyond_its_cap(tmp_path, monkeypatch):
    from wasmops.kernels.runtime import _prune_cache

    monkeypatch.setenv("WASMOPS_CACHE_MAX_MB", "3")
    for age, name in enumerate(["new", "mid", "old"]):
        (tmp_path / f"{name}.cwasm").write_bytes(bytes(1 << 20))
        (tmp_path / f"{name}.sha256").write_text("x")
        os.utime(tmp_path / f"{name}.cwasm", (1e9 - age * 100, 1e9 - age * 100))
    (tmp_path / "just-written.cwasm").write_bytes(bytes(2 << 20))  # the newest, kept even when over budget
    _prune_cache(tmp_path, keep=tmp_path / "just-written.cwasm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["just-written.cwasm", "new.cwasm", "new.sha256"]
    monkeypatch.setenv("WASMOPS_CACHE_MAX_MB", "2 GB")
    with pytest.raises(ValueError, match="WASMOPS_CACHE_MAX_MB must be a whole number of MiB, got '2 GB'"):
        _prune_cache(tmp_path, keep=tmp_path / "just-written.cwasm")


def test_relaxed_build_is_preferred_when_present(monkeypatch):
    monkeypatch.delenv("WASMOPS_LIBRARY", raising=False)
    path = default_library()
    if (path.parent / "wasmops-relaxed.wasm").exists():
        assert path.name == "wasmops-relaxed.wasm"
        assert default_library(relaxed=False).name == "wasmops.wasm"
    else:
        pytest.skip("no relaxed-SIMD build in this install (built with --no-relaxed)")


def test_fast_path_repeats_see_new_values_and_scalars(runtime):
    """Repeat calls take the bound path (Runtime.bind): new values must go in, scalars must not be reused."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.standard_normal((3, 5)).astype(np.float32)
        np.testing.assert_array_equal(wasmops.relu(x), np.maximum(x, 0))
        np.testing.assert_allclose(wasmops.add(x, x.T.copy().T), x + x, rtol=1e-6)
    for s in (np.float32(2), np.float32(-3)):  # a numpy scalar operand is a kernel scalar, not an input
        np.testing.assert_allclose(wasmops.multiply(x, s), x * s, rtol=1e-6)
    xt = x.T  # non-contiguous: its own signature (strides are part of the key)
    np.testing.assert_array_equal(wasmops.relu(xt), np.maximum(xt, 0))
    np.testing.assert_array_equal(wasmops.relu(x), np.maximum(x, 0))


def test_fast_path_survives_arena_growth(runtime):
    x = np.linspace(-1, 1, 16, dtype=np.float32)
    np.testing.assert_array_equal(wasmops.relu(x), np.maximum(x, 0))
    big = np.linspace(-1, 1, 1 << 22, dtype=np.float32)  # moves the arena: earlier bindings go stale
    np.testing.assert_array_equal(wasmops.relu(big), np.maximum(big, 0))
    y = -x
    np.testing.assert_array_equal(wasmops.relu(y), np.maximum(y, 0))


def test_runtime_recovers_after_out_of_memory_once_memory_has_grown():
    """A MemoryError after the arena grew must not leave a NULL arena behind (every later call failed)."""
    script = """
import numpy as np, wasmops
wasmops.relu(np.ones(150_000_000, np.float32))  # linear memory grows to about 1.2 GB
try:
    wasmops.relu(np.ones(300_000_000, np.float32))
    raise SystemExit("expected a MemoryError")
except MemoryError:
    pass
assert wasmops.relu(np.array([-1.0, 2.0], np.float32)).tolist() == [0.0, 2.0]
a = np.arange(4, dtype=np.float32).reshape(2, 2)
assert np.array_equal(wasmops.matmul(a, a), a @ a)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_programs_and_calls_work_above_2_gib():
    """wasm addresses at or above 2 GiB are unsigned: step tables and argument records placed there work."""
    script = """
import numpy as np, wasmops, wasmops.onnx as wo
from onnx import TensorProto, helper
from wasmops.kernels.runtime import default_runtime
rt = default_runtime()
held = [rt.alloc(500_000_000) for _ in range(5)]  # what follows lands above 2 GiB
assert held[-1] >= 2**31, held
vi = helper.make_tensor_value_info
model = helper.make_model(
    helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [vi("x", TensorProto.FLOAT, [4])],
                      [vi("y", TensorProto.FLOAT, [4])]),
    opset_imports=[helper.make_opsetid("", 13)])
x = np.array([-1, 2, -3, 4], np.float32)
assert wo.InferenceSession(model).run(None, {"x": x})[0].tolist() == [0, 2, 0, 4]
assert wasmops.relu(x).tolist() == [0, 2, 0, 4]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]

"""Deterministic builds: `compile_graph(..., deterministic=True)` and the SIMD128 op library hold no relaxed-SIMD
instruction (checked by wasmtime's validator with the relaxed-SIMD proposal turned off, which decodes every
function body), and compute what the default (relaxed-SIMD FMA) build computes within float32 tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import wasmtime

import wasmops.graph as wg
from wasmops.kernels.module_cache import LIB_DIR

from .tiny_model import tiny_model

pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")


def relaxed_simd_free(data: bytes) -> bool:
    """Whether the module validates on an engine without the relaxed-SIMD proposal (threads and SIMD on)."""
    config = wasmtime.Config()
    config.wasm_threads = True
    config.wasm_simd = True
    config.wasm_relaxed_simd = False
    try:
        wasmtime.Module.validate(wasmtime.Engine(config), data)
    except wasmtime.WasmtimeError as exc:
        assert "relaxed" in str(exc).lower() or "proposal" in str(exc).lower(), exc
        return False
    return True


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("deterministic")
    model = tiny_model()
    default = wg.compile_graph(model, root / "default.wasm", progress=False)
    deterministic = wg.compile_graph(model, root / "deterministic.wasm", progress=False, deterministic=True)
    return default, deterministic


def test_deterministic_graph_has_no_relaxed_simd(builds):
    default, deterministic = builds
    assert relaxed_simd_free(deterministic.read_bytes())
    assert not relaxed_simd_free(default.read_bytes()), "the default build should use relaxed-SIMD FMA"
    doc = wg.InferenceSession(deterministic).manifest
    assert doc["isa"] == "simd128" and doc["deterministic"] is True


def test_deterministic_graph_matches_default_build(builds):
    default, deterministic = builds
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    (want,) = wg.InferenceSession(default).run(None, {"x": x})
    (got,) = wg.InferenceSession(deterministic).run(None, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_deterministic_refuses_relaxed_isa(tmp_path):
    with pytest.raises(ValueError, match="SIMD128 only"):
        wg.compile_graph(tiny_model(), tmp_path / "x.wasm", progress=False, isa="relaxed-simd", deterministic=True)


def test_simd128_op_library_has_no_relaxed_simd():
    lib = LIB_DIR / "wasmops.wasm"
    if not lib.exists():
        pytest.skip("the op library is not built (make build)")
    assert relaxed_simd_free(lib.read_bytes())
    relaxed = LIB_DIR / "wasmops-relaxed.wasm"
    if relaxed.exists():
        assert not relaxed_simd_free(relaxed.read_bytes())


def test_deterministic_env_picks_the_simd128_library(monkeypatch):
    from wasmops.kernels.module_cache import default_library

    if not (LIB_DIR / "wasmops.wasm").exists():
        pytest.skip("the op library is not built (make build)")
    monkeypatch.delenv("WASMOPS_LIBRARY", raising=False)
    monkeypatch.setenv("WASMOPS_DETERMINISTIC", "1")
    assert default_library().name == "wasmops.wasm"

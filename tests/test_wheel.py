"""The wheel ships the prebuilt op library: installed into a fresh venv without TVM or the linker,
`from wasmops import conv2d` computes a correct convolution."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import importlib.util, json, sys
import numpy as np
from wasmops import conv2d
assert importlib.util.find_spec("tvm") is None and importlib.util.find_spec("ziglang") is None
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
y = conv2d(x, w, padding=1)
xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
ref = sum(np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 9, s:s + 9], w[:, :, r, s]) for r in range(3) for s in range(3))
print(json.dumps({"max_err": float(np.abs(y - ref).max()), "shape": y.shape, "module": conv2d.__module__}))
"""


@pytest.mark.skipif(not (ROOT / "kernels" / "lib" / "wasmops.wasm").exists(), reason="op library not built")
def test_wheel_runs_in_a_fresh_venv_without_tvm(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True, capture_output=True
    )
    (wheel,) = dist.glob("wasmops-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "wasmops/kernels/lib/wasmops.wasm" in names, names
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True)
    out = subprocess.run([str(py), "-c", CHECK], check=True, capture_output=True, text=True, cwd=tmp_path)
    result = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [2, 4, 9, 9]
    assert result["max_err"] < 1e-4

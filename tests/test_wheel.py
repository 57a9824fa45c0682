"""The wheel is the runtime-only install: built, it carries the op library; installed into a fresh venv with
only numpy and wasmtime, it runs op-library calls, compiled whole graphs (Python and `wasmops run`), and
its CLI answers what needs an extra with one line naming the extra. A wheel without the library is refused.

The fresh venv takes about a minute (pip installs numpy and wasmtime from its cache)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "kernels" / "lib" / "wasmops.wasm"

CHECK = r"""
import importlib.util, json, sys
import numpy as np
from wasmops import conv2d
missing = [m for m in ("tvm", "ziglang", "onnx", "onnxruntime", "mindspore") if importlib.util.find_spec(m)]
assert not missing, f"the runtime-only venv has {missing}"
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
y = conv2d(x, w, padding=1)
xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
ref = sum(np.einsum("nchw,kc->nkhw", xp[:, :, r:r + 9, s:s + 9], w[:, :, r, s]) for r in range(3) for s in range(3))
print(json.dumps({"max_err": float(np.abs(y - ref).max()), "shape": y.shape, "module": conv2d.__module__}))
"""

GRAPH = r"""
import sys
import numpy as np
import wasmops.graph as wg
sess = wg.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
(name,) = [a.name for a in sess.get_inputs()]
(y,) = sess.run(None, {name: np.load(sys.argv[2])})
np.save(sys.argv[3], y)
"""


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not LIBRARY.exists():
        pytest.skip(f"no op library at {LIBRARY} to put in the wheel: `make build` first (make test does)")
    dist = tmp_path_factory.mktemp("dist")
    out = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)])
    if out.returncode:
        pytest.skip(f"the wheel cannot be built on this machine: {out.stderr.strip().splitlines()[-1:]}")
    (path,) = dist.glob("wasmops-*.whl")
    return path


@pytest.fixture(scope="module")
def runtime_venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel and its two dependencies (numpy, wasmtime)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    out = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)])
    if out.returncode:
        pytest.skip(f"pip cannot install the wheel's dependencies here: {out.stderr.strip()[-500:]}")
    return env_dir


@pytest.fixture(scope="module")
def compiled_model(tmp_path_factory):
    """A small conv + relu + gemm model compiled here (TVM), its input and onnxruntime's output."""
    pytest.importorskip("tvm", reason="compiling the graph the wheel runs needs the [build] extra")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
    import wasmops.graph as wg

    from .tiny_model import tiny_model

    model = tiny_model()
    rng = np.random.default_rng(2)
    root = tmp_path_factory.mktemp("model")
    path = wg.compile_graph(model, root / "tiny.wasm", progress=False)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(root / "x.npy", x)
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    return path, root / "x.npy", want


def test_wheel_carries_the_op_library_and_runs_without_tvm(wheel, runtime_venv, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "wasmops/kernels/lib/wasmops.wasm" in names
    assert {f"wasmops/bindings/js/{f}.mjs" for f in ("index", "run", "worker")} <= set(names)  # the JS loader
    out = _run([str(runtime_venv / "bin" / "python"), "-c", CHECK], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [2, 4, 9, 9]
    assert result["max_err"] < 1e-4


def test_runtime_only_install_runs_a_compiled_graph(runtime_venv, compiled_model, tmp_path):
    """Point 1 of issue 15: this failed with `No module named 'onnx'`."""
    path, x, want = compiled_model
    py, cli = runtime_venv / "bin" / "python", runtime_venv / "bin" / "wasmops"
    out = _run([str(py), "-c", GRAPH, str(path), str(x), str(tmp_path / "y.npy")], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-4, atol=1e-4)
    out = _run([str(cli), "run", str(path), "--input", f"x={x}", "--output", "out.npz", "--repeat", "1"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["y"], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "argv,extra",
    [
        (["ops", "--frontend", "onnx"], "wasmops[onnx]"),
        (["ops", "--frontend", "mindspore"], "wasmops[mindspore]"),
        (["compile", "model.onnx"], "wasmops[build,onnx]"),
        (["run", "model.onnx"], "wasmops[onnx]"),
    ],
)
def test_runtime_only_cli_names_the_missing_extra(runtime_venv, tmp_path, argv, extra):
    out = _run([str(runtime_venv / "bin" / "wasmops"), *argv], cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr, out.stderr
    assert extra in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 2, out.stderr  # the error, the hint


def test_runtime_only_version_names_each_part(runtime_venv):
    out = _run([str(runtime_venv / "bin" / "wasmops"), "--version"])
    assert out.returncode == 0, out.stderr
    assert re.search(r"^wasmops \d", out.stdout, re.M) and re.search(r"^wasmtime \d", out.stdout, re.M)
    assert "TVM not installed" in out.stdout


def test_a_wheel_without_the_op_library_is_refused(tmp_path):
    """Point 2: a clean clone's wheel had no library and failed on the first call, where nothing can build it."""
    src = tmp_path / "src"
    files = _run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    if not files or files == [""]:
        pytest.skip("not a git checkout: cannot list the sources of a clean clone")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    assert not (src / "kernels" / "lib" / "wasmops.wasm").exists()
    out = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "d"), str(src)])
    assert out.returncode != 0, "a wheel without the op library was built"
    assert "no op library" in out.stdout + out.stderr and "make build" in out.stdout + out.stderr
    assert not list(tmp_path.glob("d/*.whl"))


def test_make_wheel_builds_the_library_first():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^wheel:(.*)$", makefile, re.M)
    assert rule and "$(LIB)" in rule.group(1), "make wheel must depend on the op library"

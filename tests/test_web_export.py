"""`wasmops export-web` in a real browser: headless Chromium (npm: @sparticuz/chromium driven by puppeteer-core,
installed into build/npm on first use) opens the exported folder served from 127.0.0.1 by its own serve.py
(COOP/COEP: cross-origin isolated), picks a picture, and runs the model in a Worker on 1 and 2 threads. The
page's input must be the numpy preprocessing of the same pixels bit for bit, and its outputs the Python
session's on that input, bit for bit (a SIMD128 build: IEEE-exact on every engine)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NPM_PREFIX = Path(os.environ.get("WASMOPS_NPM_PREFIX", ROOT / "build" / "npm"))
#: pinned: @sparticuz/chromium's major is its Chromium version; puppeteer-core drives it over CDP
BROWSER_PACKAGES = ("@sparticuz/chromium@153.0.0", "puppeteer-core@25.16.0")

pytest.importorskip("tvm", reason="exporting an ONNX model compiles it (the [build] extra)")
pytest.importorskip("PIL", reason="the test writes its picture with Pillow")


def _installed() -> bool:
    return all((NPM_PREFIX / "node_modules" / p.rsplit("@", 1)[0] / "package.json").exists() for p in BROWSER_PACKAGES)


@pytest.fixture(scope="module")
def browser_packages() -> Path:
    """build/npm with the pinned packages: installed once; a failed install fails loudly when the registry
    answers (a skip only when npm or node is missing, or the registry cannot be reached)."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for the headless Chromium test")
    if _installed():
        return NPM_PREFIX
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    cmd = ["npm", "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", *BROWSER_PACKAGES]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode == 0 and _installed():
        return NPM_PREFIX
    ping = subprocess.run(["npm", "ping"], capture_output=True, text=True, timeout=60)
    if ping.returncode != 0:
        pytest.skip(f"the npm registry cannot be reached (npm ping: {ping.stderr.strip()[-200:]})")
    pytest.fail(f"`{' '.join(cmd)}` failed with the registry reachable:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """SqueezeNet exported for the web (SIMD128 build) and a 224 x 224 picture."""
    import onnx
    from PIL import Image

    from wasmops.bindings.web_export import export_web
    from wasmops.models import light_model

    root = tmp_path_factory.mktemp("web")
    onnx.save(light_model("squeezenet"), root / "squeezenet.onnx")
    folder = export_web(root / "squeezenet.onnx", root / "site", isa="simd128", progress=False)
    yy, xx = np.mgrid[0:224, 0:224]
    rgb = np.stack([(xx * 255) // 223, (yy * 255) // 223, ((xx + yy) * 7) % 256], axis=-1).astype(np.uint8)
    rgb[60:140, 80:160] = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(root / "picture.png")
    return folder, root / "picture.png", rgb


@pytest.fixture
def served(exported):
    """The folder served by its own serve.py on a free port of 127.0.0.1: the page's URL."""
    folder = exported[0]
    proc = subprocess.Popen(
        [sys.executable, str(folder / "serve.py"), "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        yield line.split()[1] + "index.html"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _array(entry: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(entry["data"]), np.dtype(entry["dtype"])).reshape(entry["shape"])


def test_export_web_folder_runs_in_headless_chromium_bitwise_as_python(browser_packages, exported, served):
    import wasmops.graph as wg
    from wasmops.bindings.web_export import image_tensor

    folder, picture, rgb = exported
    spec = json.loads((folder / "model.json").read_text())
    assert spec["image"] and [b["isa"] for b in spec["builds"]] == ["simd128"]
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "web" / "drive_page.mjs"), str(browser_packages), served, str(picture), "1,2"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"the page run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    sess = wg.InferenceSession(folder / "model.wasm")
    want_input = image_tensor(rgb)
    want = sess.run(None, {"data_0": want_input})
    assert [r["requested"] for r in runs] == [1, 2]
    for run in runs:
        assert run["isolated"], "serve.py's COOP/COEP headers should make the page cross-origin isolated"
        assert run["threads"] == run["requested"] and run["isa"] == "simd128"
        np.testing.assert_array_equal(_array(run["inputs"]["data_0"]), want_input)  # canvas decode + normalisation
        got = [_array(run["outputs"][o.name]) for o in sess.get_outputs()]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_export_web_cli_writes_both_builds_and_serves_them_isolated(tmp_path):
    """Without a browser: an ONNX model gives a relaxed-SIMD and a SIMD128 build (the page tries them in that
    order), the loader and the page; serve.py sends COOP / COEP and the MIME types module scripts need."""
    import urllib.request

    import onnx

    from wasmops.cli import main

    from .tiny_model import tiny_model

    onnx.save(tiny_model(), tmp_path / "tiny.onnx")
    assert main(["export-web", str(tmp_path / "tiny.onnx"), "-o", str(tmp_path / "site"), "--quiet"]) == 0
    site = tmp_path / "site"
    spec = json.loads((site / "model.json").read_text())
    assert [(b["isa"], b["module"]) for b in spec["builds"]] == [
        ("relaxed-simd", "model-relaxed.wasm"),
        ("simd128", "model.wasm"),
    ]
    assert spec["image"] == {
        "layout": "NCHW",
        "height": 8,
        "width": 8,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    for name in ("index.html", "app.mjs", "runner.mjs", "serve.py", "wasmops/index.mjs", "wasmops/worker.mjs"):
        assert (site / name).is_file(), name
    proc = subprocess.Popen(
        [sys.executable, str(site / "serve.py"), "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True
    )
    try:
        base = proc.stdout.readline().split()[1]
        for name, mime in (
            ("index.html", "text/html"),
            ("app.mjs", "text/javascript"),
            ("model.wasm", "application/wasm"),
        ):
            with urllib.request.urlopen(base + name, timeout=30) as r:  # listening once it printed its URL
                headers, body = r.headers, r.read()
            assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert headers["Content-Type"].startswith(mime), (name, headers["Content-Type"])
            assert body == (site / name).read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_image_tensor_is_the_float32_normalisation():
    from wasmops.bindings.web_export import IMAGENET_MEAN, IMAGENET_STD, image_tensor

    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    want = ((rgb / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).transpose(2, 0, 1)[None]
    got = image_tensor(rgb)
    assert got.dtype == np.float32 and got.shape == (1, 3, 5, 7)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)

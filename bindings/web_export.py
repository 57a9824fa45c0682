"""`wasmops export-web`: a folder a static web server serves as it is, running a compiled graph in the browser.

The folder holds the compiled module(s) (a SIMD128 build, and a relaxed-SIMD build the page prefers where the
browser runs it), their weights, the JS loader (bindings/js), the page (bindings/web: index.html, app.mjs,
runner.mjs: the model runs in a Worker, whose thread pool needs a cross-origin-isolated page), `model.json`
(the builds, inputs, outputs and, for an image model, how the page turns a picture into its input), and
`serve.py`, a static server that sends the COOP / COEP headers threads need.

`image_tensor` is the page's image preprocessing in numpy, to the bit (float32 operations in the same order):
the tests use it to check what the page feeds the model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

#: ImageNet's per-channel mean and std (of pixels scaled to [0, 1]), as the real-model inputs use them
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HERE = Path(__file__).parent
ISA_CHOICES = ("both", "simd128", "relaxed-simd")


def image_tensor(rgb: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """(H, W, 3) uint8 pixels -> (1, 3, H, W) float32: (pixel / 255 - mean) / std, each step in float32."""
    x = np.asarray(rgb, np.uint8)[..., :3].astype(np.float32) / np.float32(255)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _image_spec(inputs: list[dict]) -> dict | None:
    """How the page makes the input from a picture: one float32 (1, 3, H, W) input, else None (random input)."""
    if len(inputs) != 1:
        return None
    (e,) = inputs
    shape = e["shape"]
    if e["dtype"] != "float32" or len(shape) != 4 or shape[0] != 1 or shape[1] != 3:
        return None
    return {"layout": "NCHW", "height": shape[2], "width": shape[3], "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def _copy_build(module: Path, out: Path, name: str) -> dict:
    """The module (and its side weight file) into `out` as `name`; the build's entry for model.json."""
    from ..kernels import graph_format as gf

    doc = gf.read(module.read_bytes())
    shutil.copyfile(module, out / name)
    entry = {"isa": doc["isa"], "module": name}
    if doc["weights"]["mode"] == "file":
        weights = name.removesuffix(".wasm") + ".weights"
        shutil.copyfile(gf.weights_path(module), out / weights)
        entry["weights"] = weights
    return entry


def export_web(
    model: str | Path,
    output_dir: str | Path,
    *,
    isa: str = "both",
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    progress: bool = True,
) -> Path:
    """Write the web folder for `model`: a compiled `.wasm` (copied with its weights) or an ONNX model,
    compiled here for `isa` ('both': a SIMD128 and a relaxed-SIMD build, the page picking what the browser
    runs). Returns the folder; serve it with its `serve.py` (or any server sending COOP / COEP)."""
    from ..kernels import graph_format as gf

    if isa not in ISA_CHOICES:
        raise ValueError(f"isa must be one of {ISA_CHOICES}, got {isa!r}")
    model, out = Path(model), Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    builds = []
    if model.suffix == ".wasm":
        if input_shapes:
            raise ValueError(
                f"{model.name} is compiled already (its input shapes are fixed); --input-shape is for ONNX"
            )
        builds.append(_copy_build(model, out, "model.wasm"))
    else:
        from .graph_session import compile_graph

        wanted = ("relaxed-simd", "simd128") if isa == "both" else (isa,)
        for which in wanted:  # the page tries them in this order: relaxed first where the browser has it
            name = "model-relaxed.wasm" if which == "relaxed-simd" else "model.wasm"
            built = compile_graph(
                model, out / name, isa=which, input_shapes=input_shapes, progress=progress, weights="auto"
            )
            builds.append({"isa": which, "module": name})
            if gf.weights_path(built).exists():
                builds[-1]["weights"] = gf.weights_path(built).name
    doc = gf.read((out / builds[0]["module"]).read_bytes())
    spec = {
        "name": model.stem,
        "builds": builds,
        "inputs": doc["inputs"],
        "outputs": doc["outputs"],
        "image": _image_spec(doc["inputs"]),
    }
    (out / "model.json").write_text(json.dumps(spec, indent=1) + "\n")
    shutil.copytree(_HERE / "js", out / "wasmops", dirs_exist_ok=True, ignore=shutil.ignore_patterns("run.mjs"))
    for asset in (_HERE / "web").iterdir():
        if asset.is_file():
            shutil.copyfile(asset, out / asset.name)
    return out


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "export_web", "image_tensor"]

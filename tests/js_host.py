"""Helpers for the JS loader's tests: run Node on the loader, and the small models the tests feed it.

Node runs `bindings/js/run.mjs` (the shipped command) or a short ES-module script over `bindings/js/index.mjs`;
tensors travel as .npy files, script results as one JSON line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "bindings" / "js"
BUILD = ROOT / "build" / "js"  # compiled test graphs, reused while the model and the compiler are unchanged
LIB_DIR = ROOT / "kernels" / "lib"
NODE = shutil.which("node")
RELAXED = "--experimental-wasm-relaxed-simd"  # Node 20 runs relaxed-SIMD builds only with it


def node_major() -> int:
    if NODE is None:
        return 0
    out = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


def node(args: list[str], relaxed: bool = True, timeout: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    cmd = [NODE, *([RELAXED] if relaxed else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def run_js(
    model: Path, feeds: dict[str, np.ndarray], out: Path, threads: int, relaxed: bool = True, **options: str
) -> dict[str, np.ndarray]:
    """`node run.mjs model --threads N --input ... --output-dir out [--weights / --library ...]` -> outputs."""
    out.mkdir(parents=True, exist_ok=True)
    args = [str(JS / "run.mjs"), str(model), "--threads", str(threads), "--output-dir", str(out / f"t{threads}")]
    for name, arr in feeds.items():
        path = out / f"in-{_file_name(name)}.npy"
        np.save(path, arr)
        args += ["--input", f"{name}={path}"]
    for key, value in options.items():
        args += [f"--{key}", str(value)]
    done = node(args, relaxed)
    if done.returncode:
        raise AssertionError(f"run.mjs failed:\n{done.stdout}\n{done.stderr}")
    return {name: np.load(out / f"t{threads}" / f"{_file_name(name)}.npy") for name in _written(done.stdout)}


def _file_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name, flags=re.ASCII)


def _written(stdout: str) -> list[str]:
    return [line.split(": ", 1)[0] for line in stdout.splitlines() if " -> " in line]


def script(body: str, relaxed: bool = True) -> dict:
    """Run an ES-module script with `wasmops` (bindings/js/index.mjs) imported; it must print one JSON line."""
    source = f'import * as wasmops from "{(JS / "index.mjs").as_uri()}";\n{body}'
    done = node(["--input-type=module", "-e", source], relaxed)
    if done.returncode:
        raise AssertionError(f"node script failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def readme_js_block() -> str:
    """The README's one ```js block (its JavaScript section), with the loader's import pointed at this checkout."""
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"^```js\n(.*?)^```$", text, re.S | re.M)
    return block.replace('"./bindings/js/index.mjs"', f'"{(JS / "index.mjs").as_uri()}"')


def assert_bitwise(got: dict[str, np.ndarray], want: dict[str, np.ndarray], what: str) -> None:
    assert list(got) == list(want), what
    for name, w in want.items():
        g = got[name]
        assert (g.dtype, g.shape) == (w.dtype, w.shape), (
            f"{what}: output {name} {g.dtype}{g.shape} vs {w.dtype}{w.shape}"
        )
        assert g.tobytes() == w.tobytes(), f"{what}: output {name} differs (max abs {np.max(np.abs(g - w))})"


def random_feeds(inputs, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded data for (name, shape, dtype) triples: floats normal, ints in [0, 16), bools and bytes random."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, shape, dtype in inputs:
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[name] = rng.random(shape) < 0.5
        else:
            feeds[name] = rng.integers(0, 16, shape).astype(dtype)
    return feeds


def gather_chain(rows: int = 256, width: int = 64) -> onnx.ModelProto:
    """x [rows, width] -> MatMul -> Relu -> Gather(idx, axis 1) -> y [rows, 2]: idx far out of range makes
    the whole graph trap (its Gather has no bounds check) and the op library's Gather refuse."""
    w = np.random.default_rng(5).standard_normal((width, width)).astype(np.float32) / 8
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gather", ["r", "idx"], ["y"], axis=1, name="gather"),
    ]
    graph = helper.make_graph(
        nodes,
        "gather_chain",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, width]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 2])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def gather_rows(rows: int = 4096, width: int = 64) -> onnx.ModelProto:
    """x [rows, width] -> Gather(idx [rows], axis 0): a parallel loop of the whole graph behind its index check,
    so a row index far out of range is refused before any thread reads."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["x", "idx"], ["y"], axis=0, name="rows")],
        "gather_rows",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, width]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [rows]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, width])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def div_rows(rows: int = 4096, width: int = 64) -> onnx.ModelProto:
    """a / b on int32 [rows, width]: a parallel loop of the whole graph in which a zero divisor traps (wasm's
    i32.div_s) in whichever thread runs its slice, the caller's or a worker's."""
    graph = helper.make_graph(
        [helper.make_node("Div", ["a", "b"], ["y"], name="divide")],
        "div_rows",
        [helper.make_tensor_value_info(n, TensorProto.INT32, [rows, width]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [rows, width])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def dtype_model() -> onnx.ModelProto:
    """int64 ids, a bool mask and uint8 data in; float, int64 (ArgMax), bool and a folded int64 Shape out."""
    emb = np.random.default_rng(6).standard_normal((16, 8)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["emb", "ids"], ["e"], name="embed"),
        helper.make_node("ReduceMax", ["e"], ["s"], axes=[2], keepdims=0, name="reduce"),
        helper.make_node("Cast", ["u"], ["uf"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Add", ["s", "uf"], ["t"], name="add"),
        helper.make_node("Where", ["mask", "t", "zero"], ["m"], name="where"),
        helper.make_node("ArgMax", ["m"], ["am"], axis=1, name="argmax"),
        helper.make_node("Greater", ["m", "zero"], ["pos"], name="greater"),
        helper.make_node("Shape", ["u"], ["shape"], name="shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "dtypes",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 5]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, [2, 5]),
            helper.make_tensor_value_info("u", TensorProto.UINT8, [2, 5]),
        ],
        [
            helper.make_tensor_value_info("m", TensorProto.FLOAT, [2, 5]),
            helper.make_tensor_value_info("am", TensorProto.INT64, [2, 1]),
            helper.make_tensor_value_info("pos", TensorProto.BOOL, [2, 5]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        ],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(np.zeros((), np.float32), "zero")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def reshape_by_input() -> onnx.ModelProto:
    """Reshape to a shape fed at run time: the program depends on an input's value (refused at export)."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape_fed")]
    graph = helper.make_graph(
        nodes,
        "fed_shape",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])

"""The JS loader (bindings/js) under Node: compiled graphs and exported op-by-op programs give outputs bitwise
equal to the Python runtime's on the same inputs and the same build, on 1 and 2 threads; corrupt modules,
programs and mismatched weight files are refused; a trap or a kernel error is an exception naming the step,
and the next run works.

The reference is the Python runtime (wasmtime), itself checked against onnxruntime by the graph and ONNX tests:
what is tested here is that the JS host loads, lays out and calls the same wasm exactly as Python does.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from wasmops.kernels.runtime import Runtime
from wasmops.registry.table import UnsupportedError

from .js_host import (
    BUILD,
    LIB_DIR,
    NODE,
    assert_bitwise,
    div_rows,
    dtype_model,
    gather_chain,
    gather_rows,
    node,
    node_major,
    random_feeds,
    readme_js_block,
    reshape_by_input,
    run_js,
    script,
)
from .test_graph_errors import small_model
from .tiny_model import tiny_model

pytestmark = pytest.mark.skipif(
    NODE is None or node_major() < 20, reason="the JS loader's tests run Node >= 20, which is not on PATH"
)
wo = pytest.importorskip("wasmops.onnx", reason="exporting programs needs the [onnx] extra")


def _models() -> dict:
    from wasmops.models import light_model, transformer_encoder

    return {
        "tiny": (tiny_model, {}),
        "tiny-file-simd128": (tiny_model, {"weights": "file", "isa": "simd128"}),
        "small": (lambda: small_model(0), {}),
        "squeezenet": (lambda: light_model("squeezenet"), {}),
        "shufflenet": (lambda: light_model("shufflenet"), {}),
        "encoder": (lambda: transformer_encoder(layers=1, seq=16, hidden=64, heads=4, ffn=128, seed=1), {}),
        "gather-chain": (gather_chain, {}),
        "gather-rows": (gather_rows, {}),
        "div-rows": (div_rows, {}),
    }


GRAPHS = [name for name in _models() if name != "div-rows"]  # random divisors may be 0: a trap
PROGRAMS = ["tiny", "small", "squeezenet", "shufflenet", "encoder", "gather-chain", "dtypes"]


def _feeds(model, seed: int = 0) -> dict[str, np.ndarray]:
    from onnx import helper

    inits = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name not in inits:
            shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            specs.append((vi.name, shape, helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)))
    feeds = random_feeds(specs, seed)
    if "idx" in feeds and feeds["idx"].shape == (2,):  # the chain's two columns: the first and the last
        feeds["idx"] = np.array([0, -1], np.int64)
    return feeds


@pytest.fixture(scope="module")
def graph():
    """name -> (model, compiled .wasm), compiled once and kept in build/js while model and compiler are unchanged."""
    pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
    from wasmops.bindings.graph_session import compiled_graph

    models, built = _models(), {}

    def get(name: str):
        if name not in built:
            make, options = models[name]
            model = make()
            built[name] = (model, compiled_graph(model, BUILD / "graphs", name, progress=False, **options))
        return built[name]

    return get


@pytest.mark.parametrize("name", GRAPHS)
def test_compiled_graph_bitwise_as_python_on_1_and_2_threads(graph, name, tmp_path):
    import wasmops.graph as wg

    model, path = graph(name)
    feeds = _feeds(model)
    sess = wg.InferenceSession(path)
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
    for threads in (1, 2):  # on 2 threads run.mjs starts without the relaxed-SIMD flag: it restarts itself with it
        got = run_js(path, feeds, tmp_path, threads, relaxed=threads == 1)
        assert_bitwise(got, want, f"{name} on {threads} thread(s)")


@pytest.fixture(scope="module")
def runtimes():
    """One Python runtime per op library build, the reference for programs run on that build."""
    found = {f.name: f for f in (LIB_DIR / "wasmops.wasm", LIB_DIR / "wasmops-relaxed.wasm") if f.exists()}
    if not found:
        pytest.skip("no op library built (make build)")
    return {name: Runtime(path) for name, path in found.items()}


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_bitwise_as_python_on_each_library_build(runtimes, name, tmp_path):
    model = dtype_model() if name == "dtypes" else _models()[name][0]()
    feeds = _feeds(model)
    for lib, runtime in runtimes.items():
        sess = wo.InferenceSession(model, runtime=runtime)
        want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
        program = sess.export_program(tmp_path / f"{name}.prog")
        for threads in (1, 2):
            got = run_js(program, feeds, tmp_path / lib, threads, library=LIB_DIR / lib)
            assert_bitwise(got, want, f"{name} on {lib}, {threads} thread(s)")


def test_program_needing_input_values_is_refused_naming_the_node(tmp_path):
    sess = wo.InferenceSession(reshape_by_input())
    with pytest.raises(UnsupportedError, match=r"reshape_fed.*input\(s\) shape"):
        sess.export_program(tmp_path / "p.prog")
    with pytest.raises(ValueError, match="symbolic dims"):
        wo.InferenceSession(_symbolic(tiny_model())).export_program(tmp_path / "q.prog")


def test_program_with_a_dtype_the_js_runner_does_not_convert_is_refused(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["h"], ["y"])],
        "half",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT16, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [4])],
    )
    sess = wo.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    with pytest.raises(UnsupportedError, match="graph input 'h' is float16"):
        sess.export_program(tmp_path / "half.prog")


def _symbolic(model):
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return model


def test_feature_detection_picks_the_build_this_engine_runs():
    body = "const lib = await wasmops.loadOpLibrary(null, {threads: 1}); await lib.close();\n"
    body += "console.log(JSON.stringify({name: lib.name, features: wasmops.engineFeatures()}));"
    plain, relaxed = script(body, relaxed=False), script(body, relaxed=True)
    assert plain["features"]["simd128"] and not plain["features"]["relaxedSimd"], plain
    assert plain["name"] == "wasmops.wasm"
    if (LIB_DIR / "wasmops-relaxed.wasm").exists():
        assert relaxed["name"] == "wasmops-relaxed.wasm"


def _load_error(call: str, relaxed: bool = True) -> str:
    body = f"try {{ await {call}; console.log(JSON.stringify({{ok: true}})); }}\n"
    body += "catch (e) { console.log(JSON.stringify({name: e.name, message: e.message})); }"
    result = script(body, relaxed)
    assert result.get("name") == "LibraryError", result
    return result["message"]


def test_corrupt_modules_and_mismatched_weights_are_refused(graph, tmp_path):
    _, embedded = graph("tiny")
    _, side = graph("tiny-file-simd128")
    data = bytearray(embedded.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "edited.wasm").write_bytes(bytes(data))
    (tmp_path / "cut.wasm").write_bytes(embedded.read_bytes()[:-100])
    assert "content hash mismatch" in _load_error(f'wasmops.loadGraph("{tmp_path / "edited.wasm"}")')
    assert "truncated" in _load_error(f'wasmops.loadGraph("{tmp_path / "cut.wasm"}")')
    assert "not a wasm module" in _load_error("wasmops.loadGraph(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))")
    # a weight file of another model (same architecture, other seed), a corrupted one, a missing one
    import wasmops.graph as wg

    other = wg.compile_graph(tiny_model(seed=7), tmp_path / "other.wasm", weights="file", isa="simd128", progress=False)
    weights = side.with_suffix(".weights")
    message = _load_error(f'wasmops.loadGraph("{side}", {{weights: "{other.with_suffix(".weights")}"}})')
    assert "belongs to a different model" in message
    bad = bytearray(weights.read_bytes())
    bad[-1] ^= 1
    (tmp_path / "bad.weights").write_bytes(bytes(bad))
    assert "corrupted" in _load_error(f'wasmops.loadGraph("{side}", {{weights: "{tmp_path / "bad.weights"}"}})')
    shutil.copy(side, tmp_path / "alone.wasm")
    assert "does not exist" in _load_error(f'wasmops.loadGraph("{tmp_path / "alone.wasm"}")')
    assert "embeds its weights" in _load_error(f'wasmops.loadGraph("{embedded}", {{weights: "{weights}"}})')
    message = _load_error(f'wasmops.loadGraph("{embedded}")', relaxed=False)
    assert "relaxed SIMD" in message and "--experimental-wasm-relaxed-simd" in message


def test_corrupt_program_and_missing_kernel_are_refused(runtimes, tmp_path):
    from wasmops.bindings import program_export

    sess = wo.InferenceSession(tiny_model(), runtime=next(iter(runtimes.values())))
    path = sess.export_program(tmp_path / "tiny.prog")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "edited.prog").write_bytes(bytes(data))
    assert "content hash mismatch" in _load_error(f'wasmops.loadProgram("{tmp_path / "edited.prog"}")')
    doc, region = program_export.build(sess)
    doc["kernels"][0][0] = "f32_no_such_kernel"
    program_export.write(tmp_path / "missing.prog", doc, region)
    assert "f32_no_such_kernel" in _load_error(f'wasmops.loadProgram("{tmp_path / "missing.prog"}")')


def test_trap_and_kernel_error_are_exceptions_and_the_next_run_works(graph, runtimes, tmp_path):
    """Graph: an index far out of range is refused by the graph's own index check (GraphIndexError) on 2
    threads. Program: the op library's Gather refuses it (KernelError), an int64 beyond int32 is refused
    before the run, and a program whose step points outside its arena is refused at load."""
    import wasmops.graph as wg
    from wasmops.bindings import program_export

    model, path = graph("gather-chain")
    good = _feeds(model)
    want = wg.InferenceSession(path).run(None, good)[0]
    lib = next(iter(runtimes))
    sess = wo.InferenceSession(model, runtime=runtimes[lib])
    program = sess.export_program(tmp_path / "chain.prog")
    doc, region = program_export.build(sess)
    doc["steps"][0]["tensors"][-1][1] = 0xC0000000  # the MatMul's output far past the end of memory
    program_export.write(tmp_path / "stray.prog", doc, region)
    np.save(tmp_path / "x.npy", good["x"])
    body = f"""
const x = wasmops.readNpy(new Uint8Array(fs.readFileSync("{tmp_path / "x.npy"}")));
const idx = (v) => wasmops.tensor(new BigInt64Array([0n, v]), [2], "int64");
const result = {{}};
async function attempt(key, run) {{
  try {{ await run(); result[key] = "no error"; }}
  catch (e) {{ result[key] = `${{e.name}}: ${{e.message}}`; }}
}}
const g = await wasmops.loadGraph("{path}", {{threads: 2}});
await attempt("graph", () => g.run({{x, idx: idx(1n << 28n)}}));
result.graphAfter = Array.from((await g.run({{x, idx: idx(-1n)}})).y.data);
const library = await wasmops.loadOpLibrary("{LIB_DIR / lib}", {{threads: 2}});
const p = await wasmops.loadProgram("{program}", {{library}});
await attempt("kernel", () => p.run({{x, idx: idx(1000n)}}));
await attempt("overflow", () => p.run({{x, idx: idx(1n << 40n)}}));
await attempt("feeds", () => p.run({{x}}));
await attempt("dtype", () => g.run({{x, idx: wasmops.tensor(new Int32Array(2), [2], "int32")}}));
await attempt("stray", () => wasmops.loadProgram("{tmp_path / "stray.prog"}", {{library}}));
result.programAfter = Array.from((await p.run({{x, idx: idx(-1n)}})).y.data);
await g.close(); await library.close();
console.log(JSON.stringify(result));
"""
    result = script('import fs from "node:fs";\n' + body)
    graph_error = result["graph"]
    assert graph_error.startswith("GraphIndexError: gather-chain") and "step" in graph_error, graph_error
    assert "Gather: index out of range, valid: [-64, 63]" in graph_error, graph_error
    assert np.array_equal(np.array(result["graphAfter"], np.float32), want.reshape(-1))
    assert result["kernel"].startswith("KernelError: node 'gather' (Gather)"), result["kernel"]
    assert result["overflow"].startswith('RangeError: input "idx": value 1099511627776'), result["overflow"]
    assert result["feeds"].startswith("RangeError: feeds must be exactly the model inputs x: float32[256,64]")
    assert result["dtype"] == 'TypeError: input "idx" has dtype int32; the model expects int64', result["dtype"]
    assert result["stray"].startswith("LibraryError: stray.prog: step 0 (node 'matmul' (MatMul))"), result["stray"]
    want_program = sess.run(None, good)[0]
    assert np.array_equal(np.array(result["programAfter"], np.float32), want_program.reshape(-1))


def test_readme_js_snippet_runs_and_matches_python(graph, tmp_path):
    """The README's JS block as pasted, in a folder holding squeezenet.wasm and squeezenet.prog."""
    import wasmops.graph as wg

    model, path = graph("squeezenet")
    shutil.copy(path, tmp_path / "squeezenet.wasm")
    sess = wo.InferenceSession(model)
    sess.export_program(tmp_path / "squeezenet.prog")
    (tmp_path / "snippet.mjs").write_text(readme_js_block())
    done = node([str(tmp_path / "snippet.mjs")], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first, shape = done.stdout.strip().splitlines()[-1].split(" ", 1)
    x = np.full((1, 3, 224, 224), 0.5, np.float32)
    assert float(first) == float(wg.InferenceSession(path).run(None, {"data_0": x})[0].reshape(-1)[0])
    assert shape.replace(" ", "") == "[1,1000,1,1]"


def test_export_program_command_for_given_shapes(tmp_path):
    """`wasmops export-program` on a model with a symbolic batch dim, for the shape given, then run.mjs."""
    import subprocess
    import sys

    import onnx

    model = _symbolic(tiny_model())
    onnx.save(model, tmp_path / "tiny.onnx")
    cmd = [
        sys.executable,
        "-m",
        "wasmops",
        "export-program",
        str(tmp_path / "tiny.onnx"),
        "-o",
        str(tmp_path / "t.prog"),
    ]
    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 1 and "symbolic dims" in refused.stderr, refused.stderr
    done = subprocess.run([*cmd, "--input-shape", "x=1x3x8x8"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    feeds = random_feeds([("x", (1, 3, 8, 8), np.float32)], seed=3)
    want = {"y": wo.InferenceSession(model).run(None, feeds)[0]}
    assert_bitwise(run_js(tmp_path / "t.prog", feeds, tmp_path, 2), want, "exported by the command")


def test_traps_in_a_parallel_loop_leave_the_pool_working(graph, tmp_path):
    """An int32 zero divisor in the last slice (taken by the caller or the worker) or in every slice traps:
    each run is a WasmTrap naming the step, and 2-thread runs afterwards are right. Row indices far out of
    range are refused by the index check (GraphIndexError) whichever slice holds them."""
    import wasmops.graph as wg

    model, path = graph("div-rows")
    rng = np.random.default_rng(3)
    a = rng.integers(-(2**31), 2**31 - 1, (4096, 64), dtype=np.int32)
    b = rng.integers(1, 1000, (4096, 64), dtype=np.int32) * rng.choice(np.array([-1, 1], np.int32), (4096, 64))
    want = wg.InferenceSession(path).run(None, {"a": a, "b": b})[0]
    assert np.array_equal(want, (np.trunc(a.astype(np.float64) / b)).astype(np.int32))  # ONNX: truncating
    _, rows_path = graph("gather-rows")
    rows = _feeds(graph("gather-rows")[0])
    for name, arr in {"a": a, "b": b, "x": rows["x"], "idx": rows["idx"]}.items():
        np.save(tmp_path / f"{name}.npy", arr)
    body = f"""
const load = (f) => wasmops.readNpy(new Uint8Array(fs.readFileSync("{tmp_path}/" + f + ".npy")));
const a = load("a"), b = load("b"), x = load("x"), idx = load("idx");
const g = await wasmops.loadGraph("{path}", {{threads: 2}});
const rows = await wasmops.loadGraph("{rows_path}", {{threads: 2}});
const errors = [], indexErrors = [];
for (let i = 0; i < 12; i++) {{
  const bad = wasmops.tensor(b.data.slice(), b.shape, "int32");
  if (i % 3 === 2) bad.data.fill(0); else bad.data[bad.data.length - 1 - (i % 2) * 64] = 0;
  try {{ await g.run({{a, b: bad}}); errors.push("no error"); }}
  catch (e) {{ errors.push(`${{e.name}}: ${{e.message}}`); }}
  const far = wasmops.tensor(idx.data.slice(), idx.shape, "int64");
  if (i % 3 === 2) far.data.fill(1n << 22n); else far.data[far.data.length - 1] = 1n << 22n;
  try {{ await rows.run({{x, idx: far}}); indexErrors.push("no error"); }}
  catch (e) {{ indexErrors.push(`${{e.name}}: ${{e.message}}`); }}
}}
const after = (await g.run({{a, b}})).y.data;
console.log(JSON.stringify({{errors, indexErrors, threads: g.threads, after: Array.from(after)}}));
await g.close(); await rows.close();
"""
    result = script('import fs from "node:fs";\n' + body)
    for error in result["errors"]:
        assert error.startswith("WasmTrap: div-rows") and "step 0 (divide)" in error, error
    for error in result["indexErrors"]:
        assert error.startswith("GraphIndexError: gather-rows") and "valid: [-4096, 4095]" in error, error
    assert result["threads"] == 2
    assert np.array_equal(np.array(result["after"], np.int32), want.reshape(-1))


def test_npy_round_trip_through_js(tmp_path):
    """numpy writes each dtype (0-d, 1-d, 3-d), JS reads and writes it back: same dtype, shape and bytes."""
    rng = np.random.default_rng(9)
    arrays = {
        "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "i32": rng.integers(-(2**31), 2**31 - 1, (5,), dtype=np.int32),
        "i64": rng.integers(-(2**62), 2**62, (2, 2, 1), dtype=np.int64),
        "u8": rng.integers(0, 255, (7,), dtype=np.uint8),
        "b": rng.random((3, 1, 2)) < 0.5,
        "scalar": np.array(1.5, np.float32),
    }
    for name, arr in arrays.items():
        np.save(tmp_path / f"{name}.npy", arr)
    body = f"""
import fs from "node:fs";
for (const name of {list(arrays)!r}) {{
  const t = wasmops.readNpy(new Uint8Array(fs.readFileSync(`{tmp_path}/${{name}}.npy`)));
  fs.writeFileSync(`{tmp_path}/${{name}}-js.npy`, wasmops.writeNpy(t));
}}
console.log("{{}}");
"""
    script(body)
    for name, arr in arrays.items():
        back = np.load(tmp_path / f"{name}-js.npy")
        assert (back.dtype, back.shape) == (arr.dtype, arr.shape) and back.tobytes() == arr.tobytes(), name

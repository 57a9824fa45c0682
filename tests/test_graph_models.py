"""Whole graphs: models compiled by `wasmops.graph.compile_graph` into one .wasm, run by its InferenceSession.

References: onnxruntime for the nine light ONNX models (rtol 1e-3, atol 1e-4, seeded random weights and
input, logits compared as well as probabilities), MindSpore's own CPU kernels for the exported MindSpore
networks (rtol 1e-4). Each model compiles once per test session.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest

import wasmops.graph as wg
from wasmops.models import LIGHT_MODELS, light_model

from .test_onnx_models import ATOL, RTOL

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for graph tests")
pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")


@pytest.fixture(scope="session")
def compiled(tmp_path_factory):
    """name -> (model, path of its compiled .wasm); compiled on first use."""
    root = tmp_path_factory.mktemp("graphs")
    cache: dict[str, tuple[onnx.ModelProto, object]] = {}

    def get(name: str, **kwargs):
        if name not in cache:
            model = light_model(name)
            cache[name] = (model, wg.compile_graph(model, root / f"{name}.wasm", progress=False, **kwargs))
        return cache[name]

    return get


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_compiles_and_matches_onnxruntime(compiled, name):
    model, path = compiled(name)
    sess = wg.InferenceSession(path)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(1).standard_normal(inp.shape).astype(np.float32)
    got = sess.run(None, {inp.name: x})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {inp.name: x})
    assert [o.name for o in sess.get_outputs()] == [o.name for o in model.graph.output]
    assert len(got) == len(want) >= 1
    for g, w, out in zip(got, want, sess.get_outputs(), strict=True):
        assert g.shape == w.shape, out.name
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"{name}: output {out.name}")


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_in_node_is_bitwise_python(compiled, name, tmp_path):
    """The same module under Node (bindings/js/run.mjs) on 1 and 2 threads: bit for bit Python's outputs."""
    from .js_host import NODE, assert_bitwise, node_major, run_js

    if NODE is None or node_major() < 20:
        pytest.skip("Node >= 20 is not on PATH: the JS host is not tested")
    _, path = compiled(name)
    sess = wg.InferenceSession(path)
    (inp,) = sess.get_inputs()
    feeds = {inp.name: np.random.default_rng(2).standard_normal(inp.shape).astype(np.float32)}
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))
    for threads in (1, 2):
        assert_bitwise(run_js(path, feeds, tmp_path, threads), want, f"{name} under Node on {threads} thread(s)")


@pytest.mark.parametrize("layers,seq,hidden,heads", [(1, 16, 64, 4), (2, 24, 96, 3)])
def test_transformer_encoder_whole_graph_and_op_by_op_match_onnxruntime(tmp_path, layers, seq, hidden, heads):
    """The benchmark's encoder at small sizes: attention, erf GELU and LayerNormalization on both paths."""
    import wasmops.onnx as wo
    from wasmops.models import transformer_encoder

    model = transformer_encoder(layers=layers, seq=seq, hidden=hidden, heads=heads, ffn=2 * hidden, seed=layers)
    x = np.random.default_rng(3).standard_normal((1, seq, hidden)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    graph = wg.InferenceSession(wg.compile_graph(model, tmp_path / "encoder.wasm", progress=False))
    np.testing.assert_allclose(graph.run(None, {"x": x})[0], want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(wo.InferenceSession(model).run(None, {"x": x})[0], want, rtol=RTOL, atol=ATOL)


def _readme_sizes() -> dict[str, tuple[float, float]]:
    """The README's compiled-size table: light model name -> (.wasm MiB, total MiB)."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    table = text[text.index("<!-- compiled sizes:") :].split("\n\n")[0]
    rows = {}
    for m in re.finditer(r"^\|[^|]*`(\w+)`[^|]*\|[^|]*\|\s*([\d.]+) MiB\s*\|[^|]*\|\s*([\d.]+) MiB\s*\|$", table, re.M):
        rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return rows


def test_readme_states_what_each_compiled_model_weighs(compiled):
    """Issue 15, point 5 (and issue 16: weights at their own size, ResNet-50 98 MiB instead of 463): the
    README must say what each compiled model weighs. Each row is checked against a fresh compile, within 10 %."""
    stated = _readme_sizes()
    assert set(stated) == set(LIGHT_MODELS), f"README's size table lists {sorted(stated)}"
    for name, (wasm_mib, total_mib) in stated.items():
        _, path = compiled(name)
        side = path.with_suffix(".weights")
        wasm = path.stat().st_size / 2**20
        total = wasm + (side.stat().st_size / 2**20 if side.exists() else 0)
        assert abs(total - total_mib) <= 0.1 * total_mib, f"{name}: {total:.1f} MiB, README says {total_mib}"
        assert abs(wasm - wasm_mib) <= 0.1 * max(wasm_mib, 1), f"{name}: .wasm {wasm:.1f} MiB, README {wasm_mib}"


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_weight_payload_is_at_most_the_source_weights(compiled, name):
    """Issue 16: the weights ship in their source layout (<= 1.05x the ONNX initializers), packed at load
    inside wasm (the outputs are checked against onnxruntime above, on the same build)."""
    from onnx import numpy_helper

    model, path = compiled(name)
    source = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    doc = wg.InferenceSession(path).manifest
    assert doc["weights"]["bytes"] <= 1.05 * source, f"{name}: {doc['weights']['bytes']} bytes for {source}"
    side = path.with_suffix(".weights")
    shipped = path.stat().st_size + (side.stat().st_size if side.exists() else 0)
    assert shipped <= 1.05 * source + (8 << 20), f"{name}: ships {shipped} bytes for {source}"
    assert doc["init_steps"] and doc["packed_bytes"] > 0  # every light model has convs packed at load


def test_packed_weights_survive_an_interrupted_run(compiled):
    """The packed region is made once, at load: an interrupted run must leave it intact."""
    _, path = compiled("squeezenet")
    sess = wg.InferenceSession(path, time_limits=True)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(2).standard_normal(inp.shape).astype(np.float32)
    before = sess.run(None, {inp.name: x})
    with pytest.raises(TimeoutError):
        sess.run(None, {inp.name: x}, run_options={"timeout": 1e-4})
    for a, b in zip(before, sess.run(None, {inp.name: x}), strict=True):
        np.testing.assert_array_equal(a, b)


def test_shipped_tuning_records_apply_to_resnet50(compiled):
    """The package's records (kernels/tune/records, made by `wasmops tune` for the benchmark models) are used
    by a default compile, and every conv they retune keeps its own schedule (no generic fallback); the
    outputs are checked against onnxruntime by test_light_model_compiles_and_matches_onnxruntime."""
    from wasmops.kernels.tune import conv_records
    from wasmops.kernels.tune import records as rec

    shipped = {}
    for path in sorted(rec.PACKAGE_DIR.glob(rec.CONV_PREFIX + "relaxed-simd-*.json")):
        shipped.update(conv_records.read_file(path, "relaxed-simd"))
    if not shipped:
        pytest.fail(f"no conv-variant records ship in {rec.PACKAGE_DIR}")
    _, path = compiled("resnet50")
    manifest = wg.InferenceSession(path).manifest
    assert manifest["tuned_convs"] and set(manifest["tuned_convs"]) <= set(shipped) | set(
        conv_records.load("relaxed-simd")
    )
    assert manifest["schedule_fallbacks"] == [], manifest["schedule_fallbacks"]

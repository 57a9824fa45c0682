"""onnxruntime code carries over (issue 15, point 7): `providers=`, `sess_options=` (threads, profiling),
`get_modelmeta()`, `get_providers()` on the op-by-op and the whole-graph session, with onnxruntime's meaning;
outputs are checked against onnxruntime (rtol 1e-4, atol 1e-4)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import wasmops
import wasmops.onnx as wo

from .tiny_model import tiny_model

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
X = np.random.default_rng(7).standard_normal((1, 3, 8, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def reference():
    model = tiny_model()
    return model, ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory):
    pytest.importorskip("tvm", reason="compiling the whole graph needs the [build] extra")
    import wasmops.graph as wg

    return wg.compile_graph(tiny_model(), tmp_path_factory.mktemp("g") / "tiny.wasm", progress=False)


def _session(kind: str, graph_path_factory, *args, **kwargs):
    if kind == "onnx":
        return wo.InferenceSession(tiny_model(), *args, **kwargs)
    import wasmops.graph as wg

    return wg.InferenceSession(graph_path_factory(), *args, **kwargs)


@pytest.fixture(params=["onnx", "graph"])
def make(request):
    def graph():
        return request.getfixturevalue("graph_path")

    return lambda *args, **kwargs: _session(request.param, graph, *args, **kwargs)


@pytest.mark.parametrize(
    "providers",
    [["CPUExecutionProvider"], [("CPUExecutionProvider", {})], ["WasmExecutionProvider"], ["wasm"], None],
)
def test_providers_are_accepted_and_the_wasm_provider_runs(make, reference, providers):
    sess = make(providers=providers)
    assert sess.get_providers() == ["WasmExecutionProvider"]
    assert sess.get_providers()[0] in wo.get_available_providers()
    np.testing.assert_allclose(sess.run(None, {"x": X})[0], reference[1].run(None, {"x": X})[0], rtol=1e-4, atol=1e-4)


def test_an_unavailable_provider_warns_like_onnxruntime(make):
    with pytest.warns(UserWarning, match="Specified provider 'CUDAExecutionProvider' is not in available provider"):
        sess = make(providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert sess.get_providers() == ["WasmExecutionProvider"]


@pytest.mark.parametrize("bad", ["CPUExecutionProvider", 3])
def test_providers_must_be_a_sequence_as_in_onnxruntime(make, bad):
    with pytest.raises(ValueError, match="'providers' should be a sequence"):
        make(providers=bad)


def test_session_options_are_checked():
    opts = wo.SessionOptions()
    with pytest.raises(AttributeError, match="intra_op_num_threads"):
        opts.enable_cpu_mem_arena = False  # not an option wasmops has: named, with the ones it has
    with pytest.raises(ValueError):
        opts.intra_op_num_threads = -1
    with pytest.raises(TypeError, match="wasmops SessionOptions"):
        wo.InferenceSession(tiny_model(), ort.SessionOptions())


def _pool(sess) -> int:
    return sess.module.instances.threads if hasattr(sess, "module") else sess.runtime.instances.threads


def test_intra_op_num_threads_sets_the_threads_of_the_sessions_runs(make, reference):
    if wasmops.get_num_threads() < 2:
        pytest.skip("one core: the thread count cannot be told apart from the default")
    opts = wo.SessionOptions()
    opts.intra_op_num_threads = 1
    one, default = make(opts), make()
    want = reference[1].run(None, {"x": X})[0]
    np.testing.assert_allclose(one.run(None, {"x": X})[0], want, rtol=1e-4, atol=1e-4)
    assert _pool(one) == 1
    default.run(None, {"x": X})
    assert _pool(default) == wasmops.get_num_threads()
    assert wasmops.get_num_threads() > 1  # the process setting is untouched


def test_enable_profiling_records_each_node_of_each_run(make, reference, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = wo.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = "tiny_"
    sess = make(opts)
    want = reference[1].run(None, {"x": X})[0]
    for _ in range(2):
        np.testing.assert_allclose(sess.run(None, {"x": X})[0], want, rtol=1e-4, atol=1e-4)
    path = sess.end_profiling()
    assert path.startswith("tiny_") and path.endswith(".json")
    events = json.loads((tmp_path / path).read_text())
    nodes = [e for e in events if e["cat"] == "Node"]
    runs = [e for e in events if e["cat"] == "Session" and e["name"] == "model_run"]
    assert len(runs) == 2 and len(nodes) >= 2 and len(nodes) % 2 == 0
    assert all(e["ph"] == "X" and e["dur"] >= 0 and e["name"].endswith("_kernel_time") for e in nodes)
    assert all("op_name" in e["args"] for e in nodes)
    assert sess.get_profiling_start_time_ns() > 0
    assert make().end_profiling() == ""  # not profiling: nothing written, as onnxruntime


def test_get_modelmeta_matches_onnxruntime(reference):
    want = reference[1].get_modelmeta()
    got = wo.InferenceSession(reference[0]).get_modelmeta()
    for field in ("producer_name", "graph_name", "domain", "description", "graph_description", "version"):
        assert getattr(got, field) == getattr(want, field), field
    assert got.custom_metadata_map == want.custom_metadata_map == {"author": "tests"}


def test_graph_modelmeta_describes_the_compiled_module(graph_path):
    import hashlib

    import wasmops.graph as wg

    meta = wg.InferenceSession(graph_path).get_modelmeta()
    assert meta.producer_name == "wasmops compile" and meta.graph_name == "tiny"
    assert meta.custom_metadata_map["source_sha256"] == hashlib.sha256(tiny_model().SerializeToString()).hexdigest()


def test_sessions_accept_options_positionally_as_onnxruntime_does(reference):
    opts = wo.SessionOptions()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sess = wo.InferenceSession(reference[0].SerializeToString(), opts, ["CPUExecutionProvider"])
    assert sess.get_session_options() is opts

"""Whole graphs refuse what is not theirs: weights of another model, truncated or edited modules, wrong feeds;
and MindSpore networks compile through their ONNX export and match MindSpore's own output."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops.graph as wg
from wasmops.kernels.graph_compiler import GraphCompileError

pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")


def small_model(seed: int) -> onnx.ModelProto:
    """Conv -> Relu -> global average pool -> Flatten -> Gemm -> Softmax, seeded random weights."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
        numpy_helper.from_array(rng.standard_normal((5, 8)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _reference(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two models of the same architecture (different weights), compiled with side weight files."""
    root = tmp_path_factory.mktemp("side")
    out = []
    for seed in (0, 1):
        model = small_model(seed)
        out.append((model, wg.compile_graph(model, root / f"m{seed}.wasm", weights="file", progress=False)))
    return out


X = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)


def test_side_file_weights_run_and_match(pair):
    for model, path in pair:
        assert path.with_suffix(".weights").exists()
        (y,) = wg.InferenceSession(path).run(None, {"x": X})
        np.testing.assert_allclose(y, _reference(model, X), rtol=1e-4, atol=1e-6)


def test_weights_of_another_model_are_refused(pair):
    (_, a), (_, b) = pair
    with pytest.raises(wg.LibraryError, match="belongs to a different model"):
        wg.InferenceSession(a, weights=b.with_suffix(".weights"))


def test_missing_or_truncated_weight_file_is_refused(pair, tmp_path):
    (_, a), _ = pair
    with pytest.raises(wg.LibraryError, match="does not exist"):
        wg.InferenceSession(a, weights=tmp_path / "none.weights")
    data = a.with_suffix(".weights").read_bytes()
    cut = tmp_path / "cut.weights"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(wg.LibraryError, match="truncated or corrupted"):
        wg.InferenceSession(a, weights=cut)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    model = small_model(3)
    return model, wg.compile_graph(model, tmp_path_factory.mktemp("embed") / "m.wasm", weights="embed", progress=False)


def test_embedded_weights_run_and_match(embedded):
    model, path = embedded
    assert not path.with_suffix(".weights").exists()
    sess = wg.InferenceSession(path)
    np.testing.assert_allclose(sess.run(["probs"], {"x": X})[0], _reference(model, X), rtol=1e-4, atol=1e-6)
    assert sess.manifest["weights"]["mode"] == "embed"
    assert sess.manifest["inputs"] == [{"name": "x", "shape": [1, 3, 16, 16], "dtype": "float32"}]


def test_truncated_or_edited_module_is_refused(embedded, tmp_path):
    _, path = embedded
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 8):
        bad = tmp_path / f"cut{cut}.wasm"
        bad.write_bytes(data[:cut])
        with pytest.raises(wg.LibraryError):
            wg.InferenceSession(bad)
    edited = bytearray(data)
    edited[len(data) // 3] ^= 0xFF
    bad = tmp_path / "edited.wasm"
    bad.write_bytes(bytes(edited))
    with pytest.raises(wg.LibraryError):
        wg.InferenceSession(bad)


def test_wrong_feeds_list_what_the_model_expects(embedded):
    model, path = embedded
    sess = wg.InferenceSession(path)
    with pytest.raises(ValueError, match=r"x: tensor\(float\)\[1, 3, 16, 16\].*missing \['x'\], unexpected \['y'\]"):
        sess.run(None, {"y": X})
    with pytest.raises(ValueError, match=r"shape \(1, 3, 8, 8\); the model was compiled for \(1, 3, 16, 16\)"):
        sess.run(None, {"x": X[:, :, :8, :8]})
    with pytest.raises(TypeError, match=r"dtype float64; the model expects tensor\(float\)"):
        sess.run(None, {"x": X.astype(np.float64)})
    with pytest.raises(ValueError, match="unknown output"):
        sess.run(["nope"], {"x": X})
    np.testing.assert_allclose(sess.run(None, {"x": X})[0], _reference(model, X), rtol=1e-4, atol=1e-6)


def test_symbolic_input_shapes_are_refused(tmp_path):
    model = small_model(0)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    with pytest.raises(GraphCompileError, match=r"batch.*input_shapes="):
        wg.compile_graph(model, tmp_path / "dyn.wasm", progress=False)


def test_compiled_graph_reuses_its_build_and_drops_older_ones(tmp_path):
    from wasmops.bindings.graph_session import compiled_graph

    stale = [tmp_path / "small-0123456789abcdef.wasm", tmp_path / "small-0123456789abcdef.weights"]
    other = tmp_path / "other-0123456789abcdef.wasm"  # another model's build stays
    for path in [*stale, other]:
        path.write_bytes(b"old build")
    model = small_model(5)
    path = compiled_graph(model, tmp_path, "small", progress=False)
    assert path.exists() and other.exists() and not any(p.exists() for p in stale)
    mtime = path.stat().st_mtime_ns
    assert compiled_graph(model, tmp_path, "small", progress=False) == path and path.stat().st_mtime_ns == mtime
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (got,) = wg.InferenceSession(path).run(None, {"x": x})
    np.testing.assert_allclose(got, _reference(model, x), rtol=1e-4, atol=1e-5)


def test_cli_compiles_and_runs(tmp_path, capsys, monkeypatch):
    from wasmops.cli import main

    onnx.save(small_model(4), tmp_path / "m.onnx")
    monkeypatch.chdir(tmp_path)  # compile writes to the current folder
    assert main(["compile", str(tmp_path / "m.onnx"), "--quiet"]) == 0
    assert (tmp_path / "m.wasm").exists()
    assert main(["run", str(tmp_path / "m.wasm"), "--repeat", "2", "--random-inputs"]) == 0
    out = capsys.readouterr().out
    assert "output probs: float32(1, 5)" in out and "whole graph" in out
    assert main(["info", str(tmp_path / "m.wasm")]) == 0
    out = capsys.readouterr().out
    assert "compiled graph, 4 steps" in out and "input  x: float32(1, 3, 16, 16)" in out


# ---- MindSpore networks, through MindSpore's ONNX export --------------------------------------------------
@pytest.mark.parametrize("net_name,shape", [("LeNet5", (2, 1, 32, 32)), ("ResNet18", (1, 3, 32, 32))])
def test_mindspore_network_compiles_and_matches_mindspore(net_name, shape, tmp_path):
    ms = pytest.importorskip("mindspore", reason="MindSpore is optional (pip install 'wasmops[mindspore]')")
    from . import ms_nets

    ms_nets.set_mode("graph")
    ms.set_seed(0)
    net = getattr(ms_nets, net_name)()
    ms_nets.randomize_batchnorm(net, np.random.default_rng(1))
    net.set_train(False)
    x = ms_nets.f32(np.random.default_rng(0), *shape)
    path = wg.compile_graph(net, tmp_path / f"{net_name}.wasm", sample_input=x, progress=False)
    sess = wg.InferenceSession(path)
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.testing.assert_allclose(y, net(ms.Tensor(x)).asnumpy(), rtol=1e-4, atol=1e-5)

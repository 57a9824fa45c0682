"""The conv-space tuner (kernels/tune/conv_space, conv_tune, conv_records): every candidate our schedule
offers computes the conv (checked against a float64 numpy conv here, independently of the tuner's own
check), the search saves records, and compile_graph uses them and still matches onnxruntime.

Short on purpose: tiny convs and a one-conv model; `wasmops tune` on a real model is where speed is measured.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
tvm = pytest.importorskip("tvm", reason="tuning needs the [build] extra (apache-tvm)")
onnx = pytest.importorskip("onnx", reason="models are ONNX")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from wasmops.kernels.tune import conv_records, conv_tune  # noqa: E402
from wasmops.kernels.tune import conv_space as sp  # noqa: E402
from wasmops.kernels.tune import records as rec  # noqa: E402
from wasmops.kernels.tune.runner import LoadedKernel  # noqa: E402

#: (x_shape, w_shape, stride, pads (t, l, b, r), dilation, groups): odd sizes so every edge path runs
CONFIGS = {
    "3x3 s1": ((1, 16, 9, 11), (12, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    "3x3 s2": ((1, 16, 11, 9), (8, 16, 3, 3), (2, 2), (1, 0, 1, 1), (1, 1), 1),
    "1x1": ((1, 32, 7, 5), (20, 32, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    "depthwise s2": ((1, 8, 17, 16), (8, 1, 3, 3), (2, 2), (1, 1, 1, 0), (1, 1), 8),
    "grouped dilated": ((1, 8, 12, 16), (12, 2, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 4),
}


@pytest.fixture(autouse=True)
def _no_package_records(tmp_path, monkeypatch):
    """The records the package ships (for the benchmark models) are left out: these tests count records."""
    monkeypatch.setattr(rec, "PACKAGE_DIR", tmp_path / "no-package-records")


def _spread(variants: list, n: int) -> list:
    """Every n-th candidate plus the first of each algorithm and weight layout: all kinds in a few builds."""
    picked = variants[::n]
    for v in variants:
        key = (v.kind, v.m, v.NV or v.kind, v.splat, v.xtile)
        if not any((p.kind, p.m, p.NV or p.kind, p.splat, p.xtile) == key for p in picked):
            picked.append(v)  # every algorithm, and every row width of the grouped ("plain") kernels
    return picked


@pytest.mark.parametrize("case", list(CONFIGS))
def test_every_kind_of_candidate_computes_the_conv(case, tmp_path):
    config = CONFIGS[case]
    x_shape, w_shape, stride, pads, dilation, groups = config
    space = sp.candidates(config)
    assert space[0] == sp.cs.choose(*config) and len(set(space)) == len(space)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    # independent reference: onnxruntime's Conv + Relu on the same values
    graph = helper.make_graph(
        [
            helper.make_node(
                "Conv",
                ["x", "w", "b"],
                ["c"],
                strides=list(stride),
                pads=list(pads),
                dilations=list(dilation),
                group=groups,
            ),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    failed = []
    for v in _spread(space, 7):
        try:
            path = sp.build(config, v, "relaxed-simd", tmp_path / "k.wasm")
        except Exception as exc:  # noqa: BLE001 - collected: a candidate that does not build is a bug here
            failed.append(f"{v}: {str(exc).strip().splitlines()[-1][:100]}")
            continue
        packed = sp.cs.pack_weight(w, x_shape, stride, pads, dilation, groups, v)
        data = [x, packed, b, np.zeros(want.shape, np.float32)]
        kernel = LoadedKernel(path, [(a.shape, a.dtype) for a in data], data=data)
        try:
            kernel.call()
            got = kernel.buffers()[-1]
        finally:
            kernel.close()
        # sums of <= 144 products of N(0,1) values; Winograd F(4x4) adds transform rounding (~1e-6 relative)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()), err_msg=str(v))
    assert not failed, failed


def test_variant_json_round_trip_and_refusals():
    v = sp.cs.Variant(kind="winograd", T=3, NV=3, m=4)
    assert sp.variant_from_json(json.loads(json.dumps(sp.variant_json(v)))) == v
    for bad in ({"kind": "plain"}, {"kind": "grid", "tile": 4}, {"kind": "grid", "T": 0}, ["grid"]):
        with pytest.raises(ValueError):
            sp.variant_from_json(bad)


def _one_conv_model() -> onnx.ModelProto:
    """Conv 3x3 + bias + ReLU, 16 -> 16 channels on 14x14: one fused kernel, Winograd by hand."""
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
        ],
        "one_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 14, 14])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 14, 14])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """The one-conv model's conv searched for 60 s into a private folder, the winner kept whatever its
    time (margin -inf): whether tuning wins is noise here, the machinery is what is checked."""
    folder = tmp_path_factory.mktemp("records")
    model = _one_conv_model()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WASMOPS_TUNE_RECORDS", str(folder))
        results = conv_tune.tune_convs(model, isa="relaxed-simd", budget_s=60, margin=-math.inf, progress=False)
    return model, folder, results


def test_search_saves_a_record(tuned):
    model, folder, results = tuned
    (res,) = results
    assert res.count == 1 and res.tried > 1 and res.hand_ms > 0
    (path,) = folder.glob(rec.CONV_PREFIX + "*.json")
    doc = json.loads(path.read_text())
    assert doc["kind"] == "conv-variants" and doc["isa"] == "relaxed-simd" and doc["tvm_version"] == tvm.__version__
    if res.kept:  # the hand variant can win the search itself: then nothing is saved
        (record,) = doc["records"]
        assert record["key"] == res.key and sp.variant_from_json(record["variant"]) == res.best


def test_compile_uses_the_conv_record_and_matches_onnxruntime(tuned, tmp_path, monkeypatch):
    from wasmops.graph import InferenceSession, compile_graph

    model, folder, (res,) = tuned
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(folder))
    if not res.kept:  # write one by hand so the path is exercised: the second tile the search tried
        other = next(v for v in res.times if v != res.hand and math.isfinite(res.times[v]))
        conv_records.save([conv_records.record(res.key, other, 1.0, 0.5, 1, 2, "test")], "relaxed-simd")
    x = np.random.default_rng(4).standard_normal((1, 16, 14, 14)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    for flag in (True, False):
        sess = InferenceSession(compile_graph(model, tmp_path / f"m{flag}.wasm", progress=False, tuned=flag))
        assert sess.manifest["tuned_convs"] == ([res.key] if flag else [])
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "variant",
    [
        sp.cs.Variant(kind="grid", T=4, NV=2, order="tapfirst", splat=True),
        sp.cs.Variant(kind="im2col", T=2, NV=4, kc=48, splat=True),
        sp.cs.Variant(kind="winograd", T=4, NV=2, m=2, splat=True),
        sp.cs.Variant(kind="im2col", T=4, NV=2, kc=48, xtile=True),
    ],
    ids=["grid", "im2col", "winograd", "im2col x-tiled"],
)
def test_splatted_weights_pack_at_load_and_match_onnxruntime(variant, tmp_path, monkeypatch):
    """A record whose weights are splatted (one copy per scalar): the graph packs them at load in that layout;
    one whose input is copied tile by tile reads it so."""
    from wasmops.graph import InferenceSession, compile_graph

    model = _one_conv_model()
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(tmp_path))
    (config, _), *_ = conv_tune.model_convs(model)
    conv_records.save([conv_records.record(sp.config_key(config), variant, 1.0, 0.5, 1, 2, "test")], "relaxed-simd")
    x = np.random.default_rng(5).standard_normal((1, 16, 14, 14)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    sess = InferenceSession(compile_graph(model, tmp_path / "m.wasm", progress=False))
    assert sess.manifest["tuned_convs"] == [sp.config_key(config)]
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


def test_corrupt_and_foreign_conv_records_are_skipped(tuned, tmp_path, monkeypatch):
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(tmp_path))
    name = conv_records.file_name("relaxed-simd", tvm.__version__)
    (tmp_path / name).write_text('{"format": 1, "kind": "conv-variants", "records": [')
    with pytest.warns(rec.RecordWarning, match="unreadable"):
        assert conv_records.load("relaxed-simd") == {}
    # a variant is our schedule's decisions, not TVM's: records measured under another TVM still apply
    good = dict(
        key="k", variant=sp.variant_json(sp.cs.Variant(T=2, NV=4)), hand_ms=1, tuned_ms=1, threads=1, candidates=1
    )
    doc = {"format": 1, "kind": "conv-variants", "tvm_version": "0.1.0", "isa": "relaxed-simd", "records": [good]}
    (tmp_path / name).write_text(json.dumps(doc))
    assert conv_records.load("relaxed-simd") == {"k": sp.cs.Variant(T=2, NV=4)}
    assert conv_records.load("simd128") == {}
    doc.update(
        tvm_version=tvm.__version__,
        records=[dict(key="k", variant={"kind": "bogus"}, hand_ms=1, tuned_ms=1, threads=1, candidates=1)],
    )
    (tmp_path / name).write_text(json.dumps(doc))
    with pytest.warns(rec.RecordWarning, match="not a conv variant"):
        assert conv_records.load("relaxed-simd") == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # conv files are not read as trace records
        assert rec.load("relaxed-simd") == {}


def test_package_trace_records_of_another_tvm_are_skipped_silently(tmp_path, monkeypatch):
    """The package's MetaSchedule records replay only under the TVM they were made with; another TVM in the
    pinned range skips them without a warning on every compile (the user's own still warn)."""
    doc = {"format": rec.FORMAT, "tvm_version": "0.1.0", "isa": "relaxed-simd", "records": []}
    (tmp_path / "tuned-relaxed-simd-tvm0.1.0.json").write_text(json.dumps(doc))
    monkeypatch.setattr(rec, "PACKAGE_DIR", tmp_path)
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(tmp_path / "user"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rec.load("relaxed-simd") == {}

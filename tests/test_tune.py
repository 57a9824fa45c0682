"""The wasm tuner (kernels/tune): MetaSchedule with our builder and runner, records, compile_graph using them.

Short on purpose (one small matmul kernel, 8 trials, the random cost model): it checks the machinery end
to end, not that tuning finds speed; `wasmops tune` on a real model is where the speed is measured.
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
from tvm import te  # noqa: E402

from wasmops.kernels.tune import driver  # noqa: E402
from wasmops.kernels.tune import records as rec  # noqa: E402
from wasmops.kernels.tune.builder import WasmBuilder, compile_kernel  # noqa: E402
from wasmops.kernels.tune.runner import WasmRunner  # noqa: E402

#: rows of the test model's input
ROWS = 64


def _matmul_relu() -> onnx.ModelProto:
    """y = relu(x @ W + b) as a Gemm: one fused kernel (packed-weight matmul with its epilogue; a MatMul node
    of 64 rows would be compiled as a conv, kernels/graph_layout.py, which the conv search tunes instead).
    1M multiply-adds: ~0.05 ms, clear of the tuner's 0.02 ms floor for kernels worth tuning."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((128, 128)).astype(np.float32) * 0.1
    b = rng.standard_normal(128).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "W", "b"], ["a"]),
            helper.make_node("Relu", ["a"], ["y"]),
        ],
        "matmul_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [ROWS, 128])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [ROWS, 128])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(autouse=True)
def _no_package_records(tmp_path, monkeypatch):
    """The records the package ships (for the benchmark models) are left out: these tests count records."""
    monkeypatch.setattr(rec, "PACKAGE_DIR", tmp_path / "no-package-records")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """The model tuned once for 8 trials into a private records folder; every candidate kept (margin -inf):
    whether tuning wins is noise on a loaded machine, the machinery is what is checked here."""
    folder = tmp_path_factory.mktemp("records")
    model = _matmul_relu()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WASMOPS_TUNE_RECORDS", str(folder))
        mp.setattr(rec, "PACKAGE_DIR", folder / "no-package-records")
        results = driver.tune_model(
            model, trials=8, budget_s=120, margin=-math.inf, population=64, cost_model="random", progress=False
        )
    return model, folder, results


def test_tuning_writes_records(tuned):
    model, folder, results = tuned
    assert len(results) == 1
    (res,) = results
    assert res.trials == 8 and res.kept, res.note
    assert res.hand_ms > 0 and res.tuned_ms > 0
    (path,) = folder.glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["tvm_version"] == tvm.__version__ and doc["isa"] == "relaxed-simd"
    (record,) = doc["records"]
    assert record["key"] == res.key and record["tuned_ms"] == pytest.approx(res.tuned_ms)
    assert "tuned ms" in driver.table(results)


def test_compile_uses_records_and_matches_onnxruntime(tuned, tmp_path, monkeypatch):
    from wasmops.graph import InferenceSession, compile_graph

    model, folder, _ = tuned
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(folder))
    x = np.random.default_rng(2).standard_normal((ROWS, 128)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    outputs = {}
    for tuned_flag in (True, False):
        path = compile_graph(model, tmp_path / f"m{tuned_flag}.wasm", progress=False, tuned=tuned_flag)
        sess = InferenceSession(path)
        assert bool(sess.manifest["tuned_kernels"]) is tuned_flag
        outputs[tuned_flag] = sess.run(None, {"x": x})[0]
    # K = 128 products of O(0.1) values: float32 rounding, summation order and FMA differ by ~1e-6
    np.testing.assert_allclose(outputs[True], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outputs[False], want, rtol=1e-4, atol=1e-5)


def test_records_change_the_compiled_graph_cache_key(tuned, tmp_path, monkeypatch):
    from wasmops.bindings.graph_session import compiled_path

    model, folder, _ = tuned
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(tmp_path / "none"))
    without = compiled_path(model, tmp_path, "m")
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(folder))
    assert compiled_path(model, tmp_path, "m") != without


def test_slower_tuned_kernel_is_not_kept(tuned, tmp_path, monkeypatch):
    """A record is kept only if faster by the margin: with margin 1 (tuned must take no time) it never is."""
    model, folder, _ = tuned
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(folder))
    (kernel,) = driver.graph_kernels(model)
    (record,) = rec.load("relaxed-simd").values()
    compile_kernel(kernel.hand, "relaxed-simd", tmp_path / f"hand-{kernel.key}.wasm")
    res = driver.KernelResult(kernel.name, kernel.key, kernel.count, 0.0)
    kept = driver._best_record(kernel, [record.trace], "relaxed-simd", tmp_path, 1, res, 1.0, model)
    assert kept is None and not res.kept and res.note == "hand schedule kept (tuned not faster)"
    assert res.tuned_ms > 0


def test_corrupt_and_foreign_record_files_are_skipped_with_a_warning(tuned, tmp_path, monkeypatch):
    from wasmops.graph import InferenceSession, compile_graph

    model, folder, _ = tuned
    (good,) = folder.glob("*.json")
    mine = tmp_path / "records"
    mine.mkdir()
    (mine / "a-good.json").write_text(good.read_text())
    (mine / "b-corrupt.json").write_text('{"format": 1, "records": [')
    foreign = json.loads(good.read_text())
    foreign["tvm_version"] = "0.1.0"
    (mine / "c-foreign.json").write_text(json.dumps(foreign))
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(mine))
    with pytest.warns(rec.RecordWarning) as caught:
        loaded = rec.load("relaxed-simd")
    messages = " ".join(str(w.message) for w in caught)
    assert "b-corrupt.json are unreadable" in messages and "made with TVM 0.1.0" in messages
    assert len(loaded) == 1  # the good file still counts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rec.RecordWarning)
        path = compile_graph(model, tmp_path / "m.wasm", progress=False)
    assert InferenceSession(path).manifest["tuned_kernels"]


def test_record_applies_only_to_its_own_workload(tuned):
    """A hash collision must not schedule another kernel: apply() compares the workloads structurally."""
    _, folder, _ = tuned
    (path,) = folder.glob("*.json")
    record = rec.Record(**json.loads(path.read_text())["records"][0])
    a = te.placeholder((4,), name="a")
    other = te.create_prim_func([a, te.compute((4,), lambda i: a[i] + 1, name="b")])
    with pytest.raises(ValueError, match="not its workload"):
        rec.apply(record, other)


def _builder_input(func):
    from tvm.s_tir.meta_schedule.builder import BuilderInput

    return BuilderInput(tvm.IRModule({"main": func}), driver.tune_target("relaxed-simd"))


def test_candidate_that_fails_to_build_is_a_failed_trial(tmp_path):
    a = te.placeholder((4,), name="a")
    b = te.compute((4,), lambda i: tvm.tirx.call_extern("float32", "wasmops_no_such_function", a[i]), name="b")
    results = WasmBuilder("relaxed-simd", tmp_path).build([_builder_input(te.create_prim_func([a, b]))])
    assert results[0].artifact_path is None and "build failed" in results[0].error_msg
    assert "wasmops_no_such_function" in results[0].error_msg


def test_candidate_that_traps_is_a_failed_trial(tmp_path):
    """An int32 division by zero traps in wasm (the runner fills integer arguments with zeros)."""
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    a = te.placeholder((16,), name="a", dtype="int32")
    d = te.placeholder((16,), name="d", dtype="int32")
    q = te.compute((16,), lambda i: tvm.tirx.truncdiv(a[i], d[i]), name="q")
    func = te.create_prim_func([a, d, q])
    (built,) = WasmBuilder("relaxed-simd", tmp_path).build([_builder_input(func)])
    assert built.error_msg is None
    seen = []
    runner = WasmRunner(on_result=seen.append)
    (future,) = runner.run([RunnerInput(built.artifact_path, "cpu", ArgInfo.from_prim_func(func))])
    result = future.result()
    assert result.run_secs is None and "trap" in result.error_msg, result.error_msg
    assert seen == [None]


def test_tune_command_prints_the_table(tmp_path, monkeypatch, capsys):
    from wasmops.cli import main

    path = tmp_path / "m.onnx"
    onnx.save(_matmul_relu(), path)
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(tmp_path / "records"))
    assert main(["tune", str(path), "--trials", "2", "--budget", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "hand ms" in out and "tuned ms" in out and "speedup" in out
    assert "kernels total: hand" in out and str(tmp_path / "records") in out


def test_the_whole_model_is_compared_with_and_without_records(tuned, monkeypatch):
    from wasmops.bindings.graph_tune import compare_model

    model, folder, _ = tuned
    monkeypatch.setenv("WASMOPS_TUNE_RECORDS", str(folder))
    hand, with_records = compare_model(model, rounds=1)
    assert 0 < hand < 1e3 and 0 < with_records < 1e3


def test_kernel_filter_that_matches_nothing_is_refused():
    with pytest.raises(ValueError, match="no kernel of the model has a name containing any of"):
        driver.tune_model(_matmul_relu(), only=["no_such_kernel"], progress=False)

"""Time and memory limits, and recovery: after an out-of-memory error, a trap, a kernel error or a deadline,
the op library, the ONNX session and a compiled graph each give correct answers again (numpy / onnxruntime
are the references), their worker pools included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import wasmops
import wasmops.onnx as wo
from wasmops.kernels import KernelError, WasmTrap

RNG = np.random.default_rng(14)
WIDTH, DEPTH = 384, 12  # a chain of DEPTH matmuls: a few hundred ms at 2048 rows, far past 20 ms
W = (RNG.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)


def chain_model(rows: int | str) -> onnx.ModelProto:
    """x [rows, WIDTH] -> DEPTH x (MatMul W) -> y: slow enough to time out, exact enough to check."""
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"]) for i in range(DEPTH)]
    nodes.append(helper.make_node("Gather", [f"h{DEPTH}", "idx"], ["y"], axis=1))
    graph = helper.make_graph(
        nodes,
        "chain",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, WIDTH]),
            helper.make_tensor_value_info("idx", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 2])],
        [numpy_helper.from_array(W, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def chain_reference(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    h = x.astype(np.float64)
    for _ in range(DEPTH):
        h = h @ W.astype(np.float64)
    return h[:, idx]


def feeds(rows: int, bad_index: int | None = None) -> dict[str, np.ndarray]:
    idx = np.array([0, -1 if bad_index is None else bad_index], np.int64)
    return {"x": RNG.standard_normal((rows, WIDTH)).astype(np.float32), "idx": idx}


def check(outputs: list[np.ndarray], feed: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(outputs[0], chain_reference(feed["x"], feed["idx"]), rtol=2e-3, atol=2e-4)


def test_limits_are_validated():
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive finite"):
            wasmops.set_timeout(bad)
    with pytest.raises(TypeError, match="seconds"):
        wasmops.set_timeout("1s")
    with pytest.raises(ValueError, match="unknown option"):
        wo.InferenceSession(chain_model("n")).run(None, feeds(2), run_options={"deadline": 1})
    with pytest.raises(ValueError, match="positive number of bytes"):
        wasmops.set_memory_limit(0)
    assert wasmops.get_timeout() is None and wasmops.get_memory_limit() is None


def test_op_library_deadline_interrupts_a_parallel_kernel_and_the_pool_recovers(runtime):
    a = RNG.standard_normal((1536, 1536)).astype(np.float32)
    small = a[:40, :33].copy()
    for threads in (2, 1):
        wasmops.set_num_threads(threads)
        try:
            with wasmops.time_limit(30):  # loads the runtime timed calls use, outside the measured time
                wasmops.relu(small)
            t0 = time.perf_counter()
            with pytest.raises(TimeoutError, match=r"matmul.*time limit of 0.02 s"), wasmops.time_limit(0.02):
                wasmops.matmul(a, a)
            assert time.perf_counter() - t0 < 2.0  # interrupted, not run to the end and then refused
            np.testing.assert_allclose(wasmops.matmul(small, small.T), small @ small.T, rtol=1e-4, atol=1e-4)
            b = a[:512]
            np.testing.assert_allclose(wasmops.matmul(b, a[:, :512]), b @ a[:, :512], rtol=1e-3, atol=1e-3)
            with wasmops.time_limit(30):  # a limit that is not reached changes nothing
                np.testing.assert_array_equal(wasmops.relu(small), np.maximum(small, 0))
        finally:
            wasmops.set_num_threads(wasmops.kernels.instances._default_threads())
    assert runtime.instances.cancelling is False


def test_op_library_recovers_after_each_kind_of_failure():
    """Out-of-memory under a memory limit, a trap, a kernel error and a deadline, in one process: a correct
    call follows each, on one and two threads."""
    script = """
import numpy as np, wasmops
from wasmops.kernels import KernelError, WasmTrap, default_runtime
rt = default_runtime()
assert rt.instances.max_memory == 96 << 20 and rt.instances.time_limits, rt.instances.max_memory
x = np.linspace(-1, 1, 1000, dtype=np.float32)
a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
def correct():
    assert np.array_equal(wasmops.relu(x), np.maximum(x, 0))
    s = a[:64, :48]
    assert np.allclose(wasmops.matmul(s, s.T), s @ s.T, rtol=1e-4, atol=1e-4)
for threads in (2, 1):
    wasmops.set_num_threads(threads)
    try:
        wasmops.relu(np.ones(50_000_000, np.float32))
        raise SystemExit("expected a MemoryError")
    except MemoryError as exc:
        assert "exhausted" in str(exc), exc
    correct()
    try:
        rt.call("f32_relu", [(0xFFFF_FF00, (4, 16), np.dtype("float32"))] * 2)
        raise SystemExit("expected a WasmTrap")
    except WasmTrap:
        pass
    correct()
    try:
        wasmops.take(x, np.array([1000]))
        raise SystemExit("expected an IndexError")
    except IndexError:
        pass
    try:
        rt.call("f32_relu", [(64, (1, 16), np.dtype("float32")), (64, (2, 16), np.dtype("float32"))])
        raise SystemExit("expected a KernelError")
    except KernelError:
        pass
    correct()
    try:
        with wasmops.time_limit(0.01):
            wasmops.matmul(a, a)
        raise SystemExit("expected a TimeoutError")
    except TimeoutError:
        pass
    correct()
print("ok")
"""
    env = dict(os.environ, WASMOPS_MAX_MEMORY_MB="96", WASMOPS_TIME_LIMITS="1")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_onnx_session_recovers_after_each_kind_of_failure(runtime):
    model = chain_model("n")
    sess = wo.InferenceSession(model, time_limits=True)  # its own runtime, built with epoch checks
    other = wo.InferenceSession(model)  # a live session on the default runtime
    limited = wo.InferenceSession(model, max_memory=64 << 20, time_limits=True)  # at most 64 MiB
    small = feeds(3)
    with pytest.raises(ValueError, match="time_limits=True"):  # no epoch checks: refused, never ignored
        other.run(None, small, run_options={"timeout": 1.0})
    with pytest.raises(TimeoutError, match=r"MatMul.*time limit of 0.02 s"):
        sess.run(None, feeds(2048), run_options={"timeout": 0.02})
    check(sess.run(None, small), small)
    check(other.run(None, small), small)
    with pytest.raises((KernelError, IndexError), match="out of range|bounds"):
        sess.run(None, feeds(3, bad_index=WIDTH))  # one past the end: the kernel refuses it
    check(sess.run(None, small, run_options={"timeout": 30}), small)
    with pytest.raises(MemoryError, match="exhausted"):
        limited.run(None, feeds(30_000))
    check(limited.run(None, small), small)
    with pytest.raises(TimeoutError):
        limited.run(None, feeds(2048), run_options={"timeout": 0.02})
    check(limited.run(None, small), small)
    check(other.run(None, small), small)


@pytest.fixture(scope="module")
def compiled_chain(tmp_path_factory):
    pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
    import wasmops.graph as wg

    rows = 1024
    return rows, wg.compile_graph(chain_model(rows), tmp_path_factory.mktemp("limits") / "chain.wasm", progress=False)


def test_compiled_graph_recovers_after_each_kind_of_failure(compiled_chain):
    import wasmops.graph as wg

    rows, path = compiled_chain
    sess, other = wg.InferenceSession(path, time_limits=True), wg.InferenceSession(path)
    good = feeds(rows)
    with pytest.raises(ValueError, match="time_limits=True"):
        other.run(None, good, run_options={"timeout": 1.0})
    with pytest.raises(TimeoutError, match=r"chain.wasm.*time limit of 0.01 s"):
        sess.run(None, good, run_options={"timeout": 0.01})
    check(sess.run(None, good), good)
    check(other.run(None, good), good)
    # a whole graph checks its indices inside wasm (kernels/graph_index_checks.py): far out of range too
    with pytest.raises(IndexError, match=r"step \d+ \(check_gather_indices\): .*Gather: index out of range"):
        sess.run(None, feeds(rows, bad_index=1 << 28))
    check(sess.run(None, good, run_options={"timeout": 60}), good)
    need = sess.module.instances.min_memory
    with pytest.raises(MemoryError, match="needs"):
        wg.InferenceSession(path, max_memory=need // 2)
    tight = wg.InferenceSession(path, max_memory=need + (4 << 20))
    check(tight.run(None, good), good)
    check(sess.run(None, good), good)


def test_worker_trap_and_deadline_leave_no_waiting_worker(runtime):
    """A trap in the main instance mid-launch, then a deadline, then many quick parallel calls: none hangs."""
    wasmops.set_num_threads(2)
    try:
        with pytest.raises(WasmTrap):
            runtime.call("f32_relu", [(0xFFFF_FF00, (4, 16), np.dtype("float32"))] * 2)
        a = RNG.standard_normal((1024, 1024)).astype(np.float32)
        with pytest.raises(TimeoutError), wasmops.time_limit(0.01):
            wasmops.matmul(a, a)
        b = a[:256, :256]
        want = b @ b
        for _ in range(50):
            np.testing.assert_allclose(wasmops.matmul(b, b), want, rtol=1e-3, atol=1e-3)
    finally:
        wasmops.set_num_threads(wasmops.kernels.instances._default_threads())

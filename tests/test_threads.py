"""Threads: results identical for any thread count (static splits, no reduction reordered), the pool
follows set_num_threads, and a trap inside a parallel loop leaves the runtime usable."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import wasmops
import wasmops.graph
from wasmops.kernels.runtime import WasmTrap, default_runtime
from wasmops.ops import all_ops

rng = np.random.default_rng(7)


def _f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture
def threads():
    """Restore the process-wide thread count after a test changes it."""
    before = wasmops.get_num_threads()
    yield
    wasmops.set_num_threads(before)


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wasmops-")]


@pytest.mark.parametrize("bad", [1.5, "2", True, None])
def test_set_num_threads_wants_an_int(bad):
    with pytest.raises(TypeError, match="set_num_threads: expected an int"):
        wasmops.set_num_threads(bad)


@pytest.mark.parametrize("bad", [0, -1, 65])
def test_set_num_threads_range(bad):
    with pytest.raises(ValueError, match=r"set_num_threads: n must be in \[1, 64\]"):
        wasmops.set_num_threads(bad)


HEAVY = [
    ("conv2d 3x3 pad 1", "conv2d", (_f32(1, 16, 20, 20), _f32(24, 16, 3, 3), _f32(24)), {"padding": 1}),
    ("conv2d 3x3/2 batch 2", "conv2d", (_f32(2, 8, 17, 13), _f32(12, 8, 3, 3), _f32(12)), {"stride": 2}),
    ("conv2d grouped", "conv2d", (_f32(1, 12, 9, 9), _f32(12, 3, 3, 3), _f32(12)), {"groups": 4, "padding": 1}),
    ("conv2d depthwise", "conv2d", (_f32(1, 24, 30, 21), _f32(24, 1, 3, 3), _f32(24)), {"groups": 24, "padding": 1}),
    ("conv2d 1x1", "conv2d", (_f32(1, 32, 7, 7), _f32(40, 32, 1, 1), _f32(40)), {}),
    ("dense", "dense", (_f32(37, 70), _f32(45, 70), _f32(45)), {}),
    ("dense one row", "dense", (_f32(1, 300), _f32(130, 300), _f32(130)), {}),
    ("dense one row, row kernel", "dense", (_f32(1, 320), _f32(130, 320), _f32(130)), {}),
    ("matmul batched", "matmul", (_f32(3, 33, 20), _f32(3, 20, 19)), {}),
]


@pytest.mark.parametrize("case", HEAVY, ids=[c[0] for c in HEAVY])
def test_heavy_ops_identical_for_any_thread_count(threads, case):
    _, name, args, attrs = case
    fn = getattr(wasmops, name)
    results = {}
    for n in (1, 2, 3, 1):
        wasmops.set_num_threads(n)
        results.setdefault(n, []).append(fn(*args, **attrs))
    ref = all_ops()[name].reference(*args, **attrs)
    np.testing.assert_allclose(results[1][0], ref, rtol=1e-4, atol=1e-4)
    for n, outs in results.items():
        for out in outs:
            assert np.array_equal(out, results[1][0]), f"{name} differs with {n} threads"


def test_pool_follows_set_num_threads(threads, runtime):
    x = _f32(8, 8)
    wasmops.set_num_threads(3)
    wasmops.dense(x, x)
    assert runtime.instances.threads == 3
    assert len([t for t in _workers() if t.is_alive()]) >= 2
    wasmops.set_num_threads(1)
    wasmops.dense(x, x)
    assert runtime.instances.threads == 1
    assert runtime.instances._threads == []


def test_trap_inside_a_parallel_loop_leaves_the_runtime_usable(threads, runtime):
    """Every task of the launch writes out of bounds: the main instance and the worker both trap."""
    wasmops.set_num_threads(2)
    x, w, b = _f32(64, 32), _f32(48, 32), _f32(48)
    good = wasmops.dense(x, w, b)
    call = all_ops()["dense"].plan(x, w, b)
    with runtime.lock:
        addrs = [runtime.alloc(a.nbytes) for a in call.inputs]
        try:
            tensors = [(at, a.shape, a.dtype) for at, a in zip(addrs, call.inputs, strict=True)]
            tensors.append((0xFFFF_0000, call.out_shape, x.dtype))  # far past the end of memory
            with pytest.raises(WasmTrap, match=call.kernel):
                runtime.call(call.kernel, tensors, call.scalars)
        finally:
            for at in addrs:
                runtime.free(at)
    assert runtime.instances.threads == 2
    for _ in range(3):  # the pool still splits work and results are unchanged
        assert np.array_equal(wasmops.dense(x, w, b), good)


def test_compiled_graph_identical_for_any_thread_count(threads, tmp_path):
    pytest.importorskip("tvm", reason="compiling whole graphs needs the [build] extra (apache-tvm)")
    from .test_graph_errors import small_model

    path = wasmops.graph.compile_graph(small_model(3), tmp_path / "small.wasm", progress=False)
    sess = wasmops.graph.InferenceSession(path)
    (inp,) = sess.get_inputs()
    x = rng.standard_normal(inp.shape).astype(np.float32)
    outs = {}
    for n in (1, 2, 1, 2):
        wasmops.set_num_threads(n)
        outs.setdefault(n, []).append(sess.run(None, {inp.name: x})[0])
    assert sess.module.instances.threads == 2
    for got in outs[1] + outs[2]:
        assert np.array_equal(got, outs[1][0])


def test_default_runtime_is_shared_by_threads_from_python(threads):
    """Python threads calling ops concurrently serialise on the runtime's lock; each gets its own answer."""
    wasmops.set_num_threads(2)
    xs = [_f32(16, 24) for _ in range(6)]
    w = _f32(20, 24)
    want = [wasmops.dense(x, w) for x in xs]
    got: list = [None] * len(xs)

    def work(i: int) -> None:
        for _ in range(5):
            got[i] = wasmops.dense(xs[i], w)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b)
    assert default_runtime().instances.threads == 2

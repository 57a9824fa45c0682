"""Soak and concurrency: a shortened `make soak` (memory flat after warm-up, every result checked), and several
Python threads calling the numpy API and their own sessions at once get exactly the serial results."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import wasmops
import wasmops.onnx as wo
from wasmops.kernels import Runtime

from . import soak


def test_short_soak_keeps_memory_flat(tmp_path):
    path = None
    try:
        import wasmops.graph as wg

        path = wg.compile_graph(soak.model(4), tmp_path / "soak.wasm", progress=False)
    except ImportError:  # the op library and the ONNX session still soak without TVM
        pass
    rows, flat = soak.soak(6000, path, samples=6)
    assert flat, rows


def _work(seed: int, session: wo.InferenceSession) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(40):
        x = rng.standard_normal((1 + i % 5, 16)).astype(np.float32)
        a = rng.standard_normal((24 + i % 3, 40)).astype(np.float32)
        out.append(wasmops.relu(x - 0.1 * i))
        out.append(wasmops.matmul(a, a.T))
        out.append(wasmops.softmax(x, axis=i % 2))
        out.append(session.run(None, {"x": x})[0])
    return out


@pytest.mark.parametrize("threads", [4])
def test_threads_get_the_serial_results(threads, runtime):
    model = soak.model("n")
    # half the sessions on the shared runtime (one lock), half on their own (truly parallel in wasm)
    sessions = [wo.InferenceSession(model, runtime=None if i % 2 else Runtime()) for i in range(threads)]
    serial = [_work(i, s) for i, s in enumerate(sessions)]
    results: list = [None] * threads
    errors: list = []

    def worker(i: int) -> None:
        try:
            results[i] = _work(i, sessions[i])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(300)
    assert not errors, errors
    for i in range(threads):
        assert len(results[i]) == len(serial[i])
        for got, want in zip(results[i], serial[i], strict=True):
            np.testing.assert_array_equal(got, want)  # same kernels, same split: bit-identical
    x = np.random.default_rng(9).standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_allclose(sessions[0].run(None, {"x": x})[0], soak.reference(x), rtol=1e-4, atol=1e-6)

"""Benchmarks compare engines on one thread unless an engine's name says otherwise ("-2t": two threads).

numpy's BLAS is limited to one thread for the session, and so is TVM's thread pool (the natively compiled
kernels keep the parallel loops the wasm schedules have) and wasmops (whose default is every core): a
"-2t" benchmark sets wasmops to two threads around itself (engines.wasm_threads), onnxruntime's count is
per session.
"""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_limits

from .engines import wasm_threads

os.environ["TVM_NUM_THREADS"] = "1"  # read when TVM starts its pool: before any benchmark imports tvm


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    with threadpool_limits(limits=1), wasm_threads(1):
        yield


@pytest.fixture(scope="module")
def mindspore_context():
    """MindSpore's numpy-2 warm-up before a module's MindSpore benchmarks, GRAPH_MODE restored after them."""
    import mindspore as ms

    from tests.ms_nets import numpy2_warmup

    numpy2_warmup()
    yield
    ms.set_context(mode=ms.GRAPH_MODE)

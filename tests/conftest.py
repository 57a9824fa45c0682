"""Shared fixtures: the op library is built once (by `make build`) and loaded once per test session."""

from __future__ import annotations

import pytest

from wasmops.kernels.runtime import default_library, default_runtime


@pytest.fixture(scope="session")
def runtime():
    default_library()  # a clear FileNotFoundError if the library was not built
    return default_runtime()


@pytest.fixture(scope="module")
def mindspore_context():
    """MindSpore's numpy-2 warm-up before a module's MindSpore tests, GRAPH_MODE restored after them."""
    import mindspore as ms

    from .ms_nets import numpy2_warmup

    numpy2_warmup()
    yield
    ms.set_context(mode=ms.GRAPH_MODE)

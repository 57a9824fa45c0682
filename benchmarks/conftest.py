"""Benchmarks compare engines on one thread: numpy's BLAS is limited to one thread for the session."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield

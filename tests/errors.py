"""Shared check of the bad-input tests: the call raises the numpy-style exception naming the op."""

from __future__ import annotations

import numpy as np
import pytest

import wasmops
from wasmops.ops import all_ops


def assert_rejected(name: str, args: tuple, kwargs: dict, exc: type[Exception], fragment: str) -> None:
    with pytest.raises(exc) as info:
        getattr(wasmops, name)(*args, **kwargs)
    message = str(info.value)
    assert name in message, f"message does not name the op: {message}"
    assert fragment in message, f"message does not mention {fragment!r}: {message}"


def assert_matches_reference(name: str, args: tuple, kwargs: dict, tol: float = 1e-5) -> None:
    """A valid call after a rejected one: the library still computes the right thing."""
    got = getattr(wasmops, name)(*args, **kwargs)
    np.testing.assert_allclose(got, all_ops()[name].reference(*args, **kwargs), rtol=tol, atol=tol)

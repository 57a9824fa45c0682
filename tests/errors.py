"""Shared check of the bad-input tests: the call raises the numpy-style exception naming the op."""

from __future__ import annotations

import pytest

import wasmops


def assert_rejected(name: str, args: tuple, kwargs: dict, exc: type[Exception], fragment: str) -> None:
    with pytest.raises(exc) as info:
        getattr(wasmops, name)(*args, **kwargs)
    message = str(info.value)
    assert name in message, f"message does not name the op: {message}"
    assert fragment in message, f"message does not mention {fragment!r}: {message}"

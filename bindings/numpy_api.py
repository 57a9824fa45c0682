"""`from wasmops import conv2d`: numpy arrays in, numpy arrays out, every op of the library.

Each public function is made from its op: it takes the op's `plan` signature and docstring, validates
before entering wasm (numpy-style TypeError / ValueError naming the op), then runs on the default runtime.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np

from ..kernels.runtime import default_runtime
from ..registry.numpy_names import NUMPY_NAMES, numpy_op


def make_function(public_name: str) -> Callable[..., np.ndarray]:
    op = numpy_op(public_name)

    plan = op.plan

    @functools.wraps(plan)
    def run(*args, **kwargs) -> np.ndarray:
        calls = plan(*args, **kwargs)  # validation first: bad input never loads or enters wasm
        rt = default_runtime()
        with rt.lock:
            return rt.run(calls)

    run.__name__ = run.__qualname__ = public_name
    run.__module__ = "wasmops"
    run.__doc__ = inspect.getdoc(op.plan) or op.__doc__
    run.__signature__ = inspect.signature(op.plan).replace(return_annotation="np.ndarray")  # type: ignore[attr-defined]
    return run


FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {name: make_function(name) for name in sorted(NUMPY_NAMES)}

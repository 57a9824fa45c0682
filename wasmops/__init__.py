"""wasmops: deep-learning operators compiled to WebAssembly with TVM, run from Python with wasmtime.

`from wasmops import conv2d, dense, relu, ...` gives numpy-in, numpy-out functions for every op in the
op library (see `wasmops info`); `set_num_threads(n)` sets how many threads heavy kernels use.
Submodules: ops (definitions), kernels (builder + runtime), registry (frontend names), bindings (user-facing APIs).
"""

from __future__ import annotations

from ._logging import configure_logging

configure_logging()  # a NullHandler, or stderr at $WASMOPS_LOG's level: set before any other module logs

from .bindings.numpy_api import FUNCTIONS  # noqa: E402
from .kernels import (  # noqa: E402
    KernelError,
    LibraryError,
    Runtime,
    WasmTrap,
    get_memory_limit,
    get_num_threads,
    get_timeout,
    set_memory_limit,
    set_num_threads,
    set_timeout,
    time_limit,
)

__version__ = "0.1.0"

globals().update(FUNCTIONS)
__all__ = [
    "KernelError",
    "LibraryError",
    "Runtime",
    "WasmTrap",
    "get_memory_limit",
    "get_num_threads",
    "get_timeout",
    "set_memory_limit",
    "set_num_threads",
    "set_timeout",
    "time_limit",
    *sorted(FUNCTIONS),
]  # noqa: PLE0604

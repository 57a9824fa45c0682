"""wasmops: deep-learning operators compiled to WebAssembly with TVM, run from Python with wasmtime.

`from wasmops import conv2d, dense, relu, ...` gives numpy-in, numpy-out functions for every op in the
op library (see `wasmops info`). Submodules: ops (definitions), kernels (builder + runtime),
registry (frontend names), bindings (user-facing APIs).
"""

from __future__ import annotations

from .bindings.numpy_api import FUNCTIONS
from .kernels import KernelError, LibraryError, Runtime, WasmTrap

__version__ = "0.1.0"

globals().update(FUNCTIONS)
__all__ = ["KernelError", "LibraryError", "Runtime", "WasmTrap", *sorted(FUNCTIONS)]  # noqa: PLE0604

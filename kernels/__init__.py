"""Kernels (wasmops.kernels): the op library's builder, its manifest, and the wasmtime runtime.

The runtime needs only wasmtime + numpy; the builder needs the [build] extra (TVM, ziglang).
Knows nothing about frameworks.
"""

from .limits import get_memory_limit, get_timeout, set_memory_limit, set_timeout, time_limit
from .manifest import LibraryError, Manifest
from .runtime import (
    KernelError,
    Runtime,
    WasmTrap,
    default_library,
    default_runtime,
    get_num_threads,
    set_num_threads,
)

__all__ = [
    "KernelError",
    "LibraryError",
    "Manifest",
    "Runtime",
    "WasmTrap",
    "default_library",
    "default_runtime",
    "get_memory_limit",
    "get_num_threads",
    "get_timeout",
    "set_memory_limit",
    "set_num_threads",
    "set_timeout",
    "time_limit",
]

"""The wasm32 call ABI the runtime writes: TVM FFI argument records, DLTensors, the blocked view, and the
exceptions a failing call raises. Split from kernels/runtime.py (which re-exports these) by concern."""

from __future__ import annotations

import functools
import math
import struct

from wasmtime import _bindings

from ..ops.spec import BLOCK

ALIGN = 64  # every tensor buffer is padded to this: a whole BLOCK of 4-byte elements
MAX_ARGS = 64
MAX_DIMS = 8

_DLTENSOR_SIZE = 40  # wasm32 DLTensor: data, device, ndim, dtype, shape*, strides*, byte_offset


def _blocks(shape: tuple[int, ...]) -> tuple[int, int]:
    """The (blocks, BLOCK) view a blocked kernel gets of a tensor; ALIGN-padded buffers hold the last block."""
    return (-(-math.prod(shape) // BLOCK), BLOCK)


@functools.cache
def _metadata_struct(ndims: tuple[int, ...], float_scalars: tuple[bool, ...]) -> struct.Struct:
    """One struct per call signature: the TVMFFIAny argument array, then each DLTensor and its shape."""
    fmt = "<" + "iiI4x" * len(ndims) + "".join("iid" if f else "iiq" for f in float_scalars)
    return struct.Struct(fmt + "".join(f"IiiiBBHII4xQ{nd}q" for nd in ndims))


_memory_size = _bindings._wasmtime_sharedmemory_data_size
_TYPE_INT, _TYPE_FLOAT, _TYPE_DLTENSOR = 1, 3, 7
_DL_CODES = {"f": 2, "i": 0, "u": 1, "b": 6}


class KernelError(RuntimeError):
    """A kernel refused its arguments or failed; the message names the kernel (and the plan step)."""

    step: int | None = None


class WasmTrap(KernelError):
    """The wasm code trapped (out-of-bounds access, unreachable, ...); the runtime recovered."""

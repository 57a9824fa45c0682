"""Which tensor dtypes ONNX graphs may carry, and the dtype each is computed in inside wasm.

The kernels compute in float32, int32 and bool. Narrower integers widen to int32 and float16 to float32
(storage only: every float16 op computes in float32, as onnxruntime's CPU kernels mostly do); int64 and
unsigned 32/64-bit values narrow to int32 with a range check, so a value that does not fit raises instead
of wrapping. float64, strings, bfloat16, the float8 / 4-bit / 2-bit types are refused by name.
"""

from __future__ import annotations

import numpy as np

_F32, _I32, _BOOL = np.dtype("float32"), np.dtype("int32"), np.dtype("bool")

COMPUTE: dict[np.dtype, np.dtype] = {
    _F32: _F32,
    np.dtype("float16"): _F32,
    _I32: _I32,
    np.dtype("int64"): _I32,
    np.dtype("uint32"): _I32,
    np.dtype("uint64"): _I32,
    np.dtype("int16"): _I32,
    np.dtype("uint16"): _I32,
    np.dtype("int8"): _I32,
    np.dtype("uint8"): _I32,
    _BOOL: _BOOL,
}
#: dtypes whose values may not fit int32: checked on the way in
_CHECKED = {np.dtype("int64"), np.dtype("uint32"), np.dtype("uint64")}
_I32_INFO = np.iinfo(np.int32)


class DtypeError(TypeError):
    """A tensor dtype the op library does not compute in."""


def refusal(dtype_name: str) -> str:
    """Why a dtype (ONNX or numpy name) is not supported; '' if it is."""
    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        dtype = None
    if dtype is not None and dtype in COMPUTE:
        return ""
    if dtype_name in ("float64", "double"):
        return "float64 is not supported (the op library computes in float32; convert the model to float32)"
    return f"dtype {dtype_name} is not supported (supported: {', '.join(sorted(d.name for d in COMPUTE))})"


def compute_dtype(dtype) -> np.dtype:
    """The dtype a tensor of `dtype` lives in inside wasm; DtypeError if there is none."""
    dtype = np.dtype(dtype)
    try:
        return COMPUTE[dtype]
    except KeyError:
        raise DtypeError(refusal(dtype.name)) from None


def to_compute(arr: np.ndarray, what: str) -> np.ndarray:
    """`arr` in its compute dtype; int64 / uint32 / uint64 values beyond int32 raise OverflowError naming `what`."""
    target = compute_dtype(arr.dtype)
    if arr.dtype == target:
        return arr
    if arr.dtype in _CHECKED and arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < _I32_INFO.min or hi > _I32_INFO.max:
            bad = lo if lo < _I32_INFO.min else hi
            raise OverflowError(
                f"{what}: value {int(bad)} ({arr.dtype}) does not fit int32, the integer dtype the op library "
                f"computes in (range [{_I32_INFO.min}, {_I32_INFO.max}])"
            )
    return arr.astype(target)


def narrow_constant(value):
    """A constant that meets graph tensors, in the dtype tensors of its dtype compute in (int64 narrows with
    the range check of `to_compute`; float64 becomes float32). Tensors and Python scalars pass unchanged."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype == np.float64:
            return value.astype(np.float32)
        if value.dtype in COMPUTE:
            return to_compute(value, f"{value.dtype} constant of shape {value.shape}")
    return value

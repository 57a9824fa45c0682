"""`import wasmops.onnx`: ONNX models op by op on the wasm kernels (needs the [onnx] extra)."""

from .bindings.onnx_session import InferenceSession, NodeArg
from .registry.table import UnsupportedError

__all__ = ["InferenceSession", "NodeArg", "UnsupportedError"]

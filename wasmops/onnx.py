"""`import wasmops.onnx`: ONNX models op by op on the wasm kernels (needs the [onnx] extra).

`InferenceSession`, `SessionOptions`, `get_available_providers` and `NodeArg` follow onnxruntime.
"""

from .bindings.onnx_session import InferenceSession
from .bindings.session_options import ModelMetadata, NodeArg, SessionOptions, get_available_providers
from .registry.table import UnsupportedError

__all__ = [
    "InferenceSession",
    "ModelMetadata",
    "NodeArg",
    "SessionOptions",
    "UnsupportedError",
    "get_available_providers",
]

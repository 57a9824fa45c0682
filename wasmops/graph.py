"""`import wasmops.graph`: prebuilt whole graphs (needs the [build] extra to compile, not to run).

compile_graph(model, "model.wasm") compiles an ONNX model (or a MindSpore network through its ONNX export)
with TVM into one self-contained module: fused kernels, executor and weights. InferenceSession runs it
with the same idiom as wasmops.onnx.InferenceSession and onnxruntime, from numpy + wasmtime alone.
"""

from .bindings.graph_session import InferenceSession, compile_graph
from .bindings.session_options import ModelMetadata, NodeArg, SessionOptions, get_available_providers
from .kernels.manifest import LibraryError

__all__ = [
    "InferenceSession",
    "LibraryError",
    "ModelMetadata",
    "NodeArg",
    "SessionOptions",
    "compile_graph",
    "get_available_providers",
]

"""`import wasmops.mindspore`: MindSpore networks on the wasm kernels (needs the [mindspore] extra).

to_wasm(net, backend="pyfunc" | "aot") returns a copy of the network whose supported layers and
primitives run as MindSpore Custom ops on wasm kernels (PyNative and GRAPH_MODE); at its first call, the
largest cells whose compiled graph translates completely (construct-level code included) become one wasm
program each. Its `wasm_report` lists what stayed native and why, with the share of ops and FLOPs on
wasm. export_to_onnx_session(net, sample) is the whole-graph route through MindSpore's ONNX export and
wasmops.onnx.InferenceSession.

to_wasm(net, train=True) returns a network to train: it holds net's own Parameters, and every translated
layer has a wasm bprop, for mindspore.value_and_grad with MindSpore's optimisers or WasmSGD / WasmAdam
(updates on the wasm kernels).
"""

from .bindings.mindspore_backend import WasmCell, WasmCustom
from .bindings.mindspore_convert import (
    ConversionReport,
    ReportEntry,
    WasmNetwork,
    export_to_onnx_session,
    to_wasm,
)
from .bindings.mindspore_optim import WasmAdam, WasmSGD
from .bindings.ms_aot import AotBuildError
from .registry.table import UnsupportedError

__all__ = [
    "AotBuildError",
    "ConversionReport",
    "ReportEntry",
    "UnsupportedError",
    "WasmCell",
    "WasmCustom",
    "WasmNetwork",
    "WasmAdam",
    "WasmSGD",
    "export_to_onnx_session",
    "to_wasm",
]

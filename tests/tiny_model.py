"""A small conv + relu + gemm ONNX model (seeded weights) for CLI, wheel and session tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_model(seed: int = 2, shapeless_output: bool = False) -> onnx.ModelProto:
    """x (1, 3, 8, 8) -> Conv 3x3 (4 channels) -> Relu -> flatten -> Gemm -> y (1, 10).

    `shapeless_output` also exposes the Relu output with no declared shape (TVM's importer warns on it)."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((10, 4 * 8 * 8)).astype(np.float32), "fc"),
        numpy_helper.from_array(np.array([1, -1], np.int64), "flat"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "flat"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1, name="fc"),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])]
    if shapeless_output:
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])], outputs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model.producer_name, model.model_version, model.doc_string = "wasmops tests", 3, "a tiny conv net"
    helper.set_model_props(model, {"author": "tests"})
    return model

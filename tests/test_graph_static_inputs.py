"""Old-IR models list their initializers as graph inputs too (the onnx package's light models do): compiled
for fixed input shapes, the module must take only the real inputs, even where folding made an initializer
unused (light_model's `*_SHAPE` tensors). Reference: onnxruntime (rtol 1e-4, atol 1e-4)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from .tiny_model import tiny_model


def test_initializer_inputs_are_not_module_inputs(tmp_path):
    pytest.importorskip("tvm", reason="compiling needs the [build] extra")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference")
    import wasmops.graph as wg

    model = tiny_model()
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array([4, 3, 3, 3], np.int64), "unused_shape"))
    for t in graph.initializer:  # every initializer is also declared as an input (IR < 4 style)
        graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    path = wg.compile_graph(model, tmp_path / "m.wasm", input_shapes={"x": (1, 3, 8, 8)}, progress=False)
    sess = wg.InferenceSession(path)
    assert [a.name for a in sess.get_inputs()] == ["x"]
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})
    np.testing.assert_allclose(sess.run(["y"], {"x": x})[0], want[0], rtol=1e-4, atol=1e-4)

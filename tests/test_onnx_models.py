"""Real architectures through wasmops.onnx.InferenceSession against onnxruntime (rtol 1e-3, atol 1e-4).

The `onnx` package's light models generate their weights with ConstantOfShape (all 0.02, which would make
every class score equal); the test replaces each generated weight with seeded random values of the same
shape (He-scaled, positive where a variance must be), so outputs depend on every layer, and also compares
the logits that feed the final Softmax.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import wasmops.onnx as wo

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the reference for graph tests")
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = [
    "bvlc_alexnet",
    "densenet121",
    "inception_v1",
    "inception_v2",
    "resnet50",
    "shufflenet",
    "squeezenet",
    "vgg19",
    "zfnet512",
]
RTOL, ATOL = 1e-3, 1e-4


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Turn every ConstantOfShape weight into a random initializer; expose the final Softmax's input."""
    rng = np.random.default_rng(seed)
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    role = {}  # weight name -> (consumer op, input position)
    for node in graph.node:
        for pos, name in enumerate(node.input):
            role.setdefault(name, (node.op_type, pos))
    kept, new_inits = [], []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits:
            kept.append(node)
            continue
        shape = tuple(int(d) for d in inits[node.input[0]])
        op, pos = role.get(node.output[0], ("", 0))
        if op == "BatchNormalization":
            value = rng.uniform(0.5, 1.5, shape) if pos in (1, 4) else rng.normal(0, 0.1, shape)
        elif op in ("Conv", "Gemm") and pos == 1:
            fan_in = int(np.prod(shape[1:])) if op == "Conv" else shape[-1]
            value = rng.normal(0, np.sqrt(2.0 / max(fan_in, 1)), shape)
        else:
            value = rng.normal(0, 0.1, shape)
        new_inits.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(new_inits)
    softmax = [n for n in graph.node if n.op_type == "Softmax"]
    if softmax:
        graph.output.append(helper.make_tensor_value_info(softmax[-1].input[0], onnx.TensorProto.FLOAT, None))
    return model


@pytest.mark.parametrize("name", MODELS)
def test_light_model_matches_onnxruntime(name):
    model = randomize_weights(onnx.load(str(LIGHT / f"light_{name}.onnx")))
    sess = wo.InferenceSession(model)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(1).standard_normal(inp.shape).astype(np.float32)
    got = sess.run(None, {inp.name: x})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {inp.name: x})
    assert len(got) == len(want) >= 1
    for g, w, out in zip(got, want, sess.get_outputs(), strict=True):
        assert g.shape == w.shape, out.name
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=f"{name}: output {out.name}")
    assert np.std(want[-1]) > 1e-3, "the random weights should make the logits input-dependent"
    steps, timings = sess.run_steps(None, {inp.name: x})  # node by node gives the same numbers
    np.testing.assert_array_equal(steps[0], got[0])
    assert len(timings) > 5 and all(t.label.startswith("node ") and t.seconds >= 0 for t in timings)

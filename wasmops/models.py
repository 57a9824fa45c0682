"""The `onnx` package's light models (real architectures, no stored weights) with seeded random weights.

The light models generate their weights with ConstantOfShape (all 0.02, which makes every class score
equal); `light_model` replaces each generated weight with seeded random values of the same shape
(He-scaled, positive where a variance must be) and also exposes the final Softmax's input (the logits),
so outputs depend on every layer. Used by the demo, the tests and the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = (
    "bvlc_alexnet",
    "densenet121",
    "inception_v1",
    "inception_v2",
    "resnet50",
    "shufflenet",
    "squeezenet",
    "vgg19",
    "zfnet512",
)


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


def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """`light_<name>.onnx` from the onnx package, with seeded random weights (see the module doc)."""
    if name not in LIGHT_MODELS:
        raise ValueError(f"unknown light model {name!r}; the onnx package ships {list(LIGHT_MODELS)}")
    return randomize_weights(onnx.load(str(LIGHT / f"light_{name}.onnx")), seed)

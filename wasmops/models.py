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


def transformer_encoder(
    layers: int = 2, seq: int = 128, hidden: int = 768, heads: int = 12, ffn: int = 3072, seed: int = 0
) -> onnx.ModelProto:
    """A BERT-style post-norm encoder (opset 17), seeded random weights: per layer, Q/K/V projections,
    scaled dot-product attention over `heads` heads, output projection + residual + LayerNormalization,
    a GELU (erf form) feed-forward block + residual + LayerNormalization. Input (1, seq, hidden).

    BERT-base's layer shape by default; the ops are the ones exported transformers use (MatMul, Add,
    Reshape, Transpose, Softmax, Div, Mul, Erf, LayerNormalization)."""
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    rng = np.random.default_rng(seed)
    head = hidden // heads
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def weight(name: str, *shape: int) -> str:
        return const(name, (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32))

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    split = const("heads_shape", np.array([1, seq, heads, head], np.int64))
    merge = const("merge_shape", np.array([1, seq, hidden], np.int64))
    scale = const("scale", np.array(np.sqrt(head), np.float32))
    half, one, root2 = (const(n, np.array(v, np.float32)) for n, v in (("half", 0.5), ("one", 1.0), ("r2", 2**0.5)))
    x = "x"
    for i in range(layers):
        p = f"l{i}_"

        def proj(name: str, src: str, n_in: int, n_out: int, p=p) -> str:
            y = node("MatMul", [src, weight(p + name + "_w", n_in, n_out)], p + name + "_mm")
            return node("Add", [y, const(p + name + "_b", np.zeros(n_out, np.float32))], p + name)

        def heads_of(t: str, perm: list[int], p=p) -> str:
            return node("Transpose", [node("Reshape", [t, split], t + "_r")], t + "_t", perm=perm)

        q = heads_of(proj("q", x, hidden, hidden), [0, 2, 1, 3])
        k = heads_of(proj("k", x, hidden, hidden), [0, 2, 3, 1])
        v = heads_of(proj("v", x, hidden, hidden), [0, 2, 1, 3])
        scores = node("Div", [node("MatMul", [q, k], p + "qk"), scale], p + "scores")
        ctx = node("MatMul", [node("Softmax", [scores], p + "attn", axis=-1), v], p + "ctx")
        ctx = node("Reshape", [node("Transpose", [ctx], p + "ctx_t", perm=[0, 2, 1, 3]), merge], p + "ctx_m")
        ln_args = [const(p + "ln1_g", np.ones(hidden, np.float32)), const(p + "ln1_b", np.zeros(hidden, np.float32))]
        h = node("Add", [proj("o", ctx, hidden, hidden), x], p + "res1")
        h = node("LayerNormalization", [h, *ln_args], p + "ln1", axis=-1, epsilon=1e-12)
        f = proj("ffn1", h, hidden, ffn)
        gate = node("Add", [node("Erf", [node("Div", [f, root2], p + "f_s")], p + "f_erf"), one], p + "f_cdf")
        f = node("Mul", [node("Mul", [f, gate], p + "f_g"), half], p + "gelu")
        ln_args = [const(p + "ln2_g", np.ones(hidden, np.float32)), const(p + "ln2_b", np.zeros(hidden, np.float32))]
        h2 = node("Add", [proj("ffn2", f, ffn, hidden), h], p + "res2")
        x = node("LayerNormalization", [h2, *ln_args], p + "ln2", axis=-1, epsilon=1e-12)
    graph = helper.make_graph(
        nodes,
        "transformer_encoder",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, seq, hidden])],
        [helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, [1, seq, hidden])],
        inits,
    )
    # IR 8 (what opset 17 needs): onnxruntime-web 1.30 reads IR <= 13, onnx 1.2x writes 14 by default
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)

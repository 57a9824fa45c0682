"""Graph rewrites before op-by-op translation: fewer passes over memory for what exporters spell out op by op.

Each op-by-op node is one pass over its tensor, so an export's decompositions cost time a fused runtime does
not pay (onnxruntime folds and fuses the same way at session creation):
- `canonicalize` (kernels/graph_compiler.py, shared with whole graphs): constant nodes folded, BatchNormalization
  folded into the preceding conv's weights (or one per-channel multiply-add), Sum as Adds;
- hard-swish spelled `x * Clip(x + 3, 0, 6) / 6` (paddle2onnx, older torch exports) becomes
  `x * HardSigmoid(x)` (alpha 1/6, beta 1/2): two passes instead of four, in every opset.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..kernels.graph_compiler import canonicalize, count_consumers


def _scalar(name: str, consts: dict[str, np.ndarray]) -> float | None:
    value = consts.get(name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _clip_bounds(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> tuple[float | None, float | None]:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if "min" in attrs or "max" in attrs:  # before opset 11
        return attrs.get("min"), attrs.get("max")
    names = list(node.input) + ["", ""]
    return (_scalar(names[1], consts) if names[1] else None), (_scalar(names[2], consts) if names[2] else None)


def fuse_hard_swish(model: onnx.ModelProto) -> int:
    """Rewrite x * Clip(x + 3, 0, 6) / 6 (either operand order) in place; returns how many were fused."""
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    uses = count_consumers(graph)
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for div in graph.node:
        if div.op_type != "Div" or _scalar(div.input[1], consts) != 6.0:
            continue
        mul = producer.get(div.input[0])
        if mul is None or mul.op_type != "Mul" or uses.get(mul.output[0]) != 1:
            continue
        for x, clipped in (mul.input, mul.input[::-1]):
            clip = producer.get(clipped)
            if clip is None or clip.op_type != "Clip" or uses.get(clip.output[0]) != 1:
                continue
            if _clip_bounds(clip, consts) != (0.0, 6.0):
                continue
            add = producer.get(clip.input[0])
            if add is None or add.op_type != "Add" or uses.get(add.output[0]) != 1:
                continue
            other = [n for n in add.input if n != x]
            if len(other) != 1 or _scalar(other[0], consts) != 3.0:
                continue
            gate = f"{div.output[0]}__hard_sigmoid"
            replaced[id(div)] = [
                helper.make_node("HardSigmoid", [x], [gate], name=gate, alpha=1.0 / 6.0, beta=0.5),
                helper.make_node("Mul", [x, gate], [div.output[0]], name=f"{div.name or gate}__hard_swish"),
            ]
            dropped |= {id(mul), id(clip), id(add)}
            break
    if not replaced:
        return 0
    nodes = []
    for n in graph.node:
        if id(n) in dropped:
            continue
        nodes += replaced.get(id(n), [n])
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)


def optimize(model: onnx.ModelProto) -> onnx.ModelProto:
    """A rewritten copy of `model` for op-by-op translation (the caller's model is left as it is)."""
    model = canonicalize(model)
    fuse_hard_swish(model)
    return model


__all__ = ["fuse_hard_swish", "optimize"]

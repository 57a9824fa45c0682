"""Whole-graph rewrites for speed: a layer put in the layout our kernels run fastest in, the same arithmetic.

A MatMul by a constant 2-D weight over enough rows (a transformer's projections at batch 1) becomes a 1x1
Conv with the rows as pixels: Transpose, Reshape to (1, K, 1, M), Conv with the weight as (N, K, 1, 1),
Reshape, Transpose back. The conv's register tile loads weights already splatted over the lanes (packed at
load), where the packed matmul broadcasts an activation at every step (a load-and-splat is three
instructions under Cranelift). Each output sums the same K products in the same order either way: the
compiled encoder's output is bit for bit the same. Measured on two BERT-base layers (sequence 128, whole
graph, both compiles alternated in one process): 3-6 % faster on one thread and on two; the two transposes
cost about 0.1 ms each. Called from graph_compiler._prepare (whole graphs only: the op-by-op session keeps
its dense kernels).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from .graph_rewrites import _Graph

#: fewer rows than this (a decoder step, a classifier's single row) stay a MatMul: a GEMV, no pixels to tile
MIN_ROWS = 16
#: rows are rewritten in multiples of the conv's 8-pixel tile only (the measured case: no ragged last tile)
ROW_MULTIPLE = 8


def _conv_shape(g: _Graph, node: onnx.NodeProto) -> tuple[int, int, int, int] | None:
    """(rank of A, M, K, N) when `node` is a float32 MatMul of a static (M, K) or (1, M, K), M a multiple of
    ROW_MULTIPLE, by a constant (K, N) with N a multiple of the conv's 4 channels per tile, else None."""
    if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx") or len(node.input) != 2:
        return None
    a, b = node.input
    w = g.inits.get(b)
    shape = g.shapes.get(a)
    if w is None or w.data_type != TensorProto.FLOAT or len(w.dims) != 2 or g.types.get(a) != TensorProto.FLOAT:
        return None
    if shape is None or len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] != 1):
        return None
    m, k = shape[-2:]
    n = int(w.dims[1])
    if m < MIN_ROWS or m % ROW_MULTIPLE or k != int(w.dims[0]) or n % 4 or n < 16:
        return None
    return len(shape), m, k, n


def matmul_as_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite every qualifying MatMul of `model` (a copy made by the caller) in place; see the module doc."""
    if not any(n.op_type == "MatMul" for n in model.graph.node):
        return model
    g = _Graph(model)
    nodes: list[onnx.NodeProto] = []
    as_conv: dict[str, str] = {}  # weight -> its (N, K, 1, 1) copy (tied weights share one)
    replaced = set()
    for node in model.graph.node:
        found = _conv_shape(g, node)
        if found is None:
            nodes.append(node)
            continue
        rank, m, k, n = found
        a, b = node.input
        if b not in as_conv:
            as_conv[b] = g.add_const(np.ascontiguousarray(g.const(b).T).reshape(n, k, 1, 1), b)
        replaced.add(b)
        perm = [1, 0] if rank == 2 else [0, 2, 1]
        into = g.add_const(np.array([1, k, 1, m], np.int64), "conv_shape")
        back = g.add_const(np.array([n, m] if rank == 2 else [1, n, m], np.int64), "rows_shape")
        t, x, c, r = (g.fresh(f"{node.output[0]}_{s}") for s in ("t", "x", "c", "r"))
        name = node.name or node.output[0]
        nodes += [
            helper.make_node("Transpose", [a], [t], perm=perm, name=f"{name}/transpose"),
            helper.make_node("Reshape", [t, into], [x], name=f"{name}/to_pixels"),
            helper.make_node("Conv", [x, as_conv[b]], [c], kernel_shape=[1, 1], name=f"{name}/conv"),
            helper.make_node("Reshape", [c, back], [r], name=f"{name}/to_rows"),
            helper.make_node("Transpose", [r], [node.output[0]], perm=perm, name=f"{name}/transpose_back"),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {i for nd in model.graph.node for i in nd.input} | {o.name for o in model.graph.output}
    kept = [t for t in model.graph.initializer if t.name not in replaced or t.name in used]
    if len(kept) != len(model.graph.initializer):  # a weight only the rewritten MatMuls read: not shipped twice
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
    return model


__all__ = ["MIN_ROWS", "matmul_as_conv"]

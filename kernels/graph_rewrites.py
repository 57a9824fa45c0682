"""ONNX nodes TVM's importer would turn into a wrong answer: rewritten into ones it gets right, or refused by name.

Each entry below was found by the ONNX node-test suite run through the whole-graph path
(tests/conformance/graph_suite.py): the importer ignores an attribute or an optional output and computes
something else. Where the ONNX meaning is cheap to spell in nodes the importer converts correctly, the node is
rewritten (Dropout's mask, IsInf's sign filters, LayerNormalization's Mean / InvStdDev, ConvTranspose's
output_shape); otherwise it is refused naming the node and the attribute. Works on a copy (called from
graph_compiler._prepare, whole graphs only). Build-time only; needs onnx and numpy, not TVM.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph_checks import SUPPORTED_TYPES, GraphCompileError, describe


class _Graph:
    """What the rewrites need to know: initializer values, value types and shapes, the opset."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.inits = {t.name: t for t in model.graph.initializer}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
            values = [*inferred.value_info, *inferred.input, *inferred.output]
        except Exception:  # noqa: BLE001 - no inference: the rewrites that need it refuse instead
            values = [*model.graph.input, *model.graph.output]
        self.types: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...] | None] = {}
        for vi in values:
            tt = vi.type.tensor_type
            self.types[vi.name] = tt.elem_type
            dims = tt.shape.dim
            static = tt.HasField("shape") and all(d.HasField("dim_value") for d in dims)
            self.shapes[vi.name] = tuple(d.dim_value for d in dims) if static else None
        for t in model.graph.initializer:
            self.types[t.name], self.shapes[t.name] = t.data_type, tuple(t.dims)
        self.producer = {out: node for node in model.graph.node for out in node.output}
        self.count = 0

    def const(self, name: str) -> np.ndarray | None:
        return numpy_helper.to_array(self.inits[name]) if name in self.inits else None

    def value(self, name: str) -> np.ndarray | None:
        """A constant's value, also through a Cast / CastLike of it (function bodies cast their constants)."""
        node = self.producer.get(name)
        if name not in self.inits and node is not None and node.op_type in ("Cast", "CastLike"):
            return self.const(node.input[0])
        return self.const(name)

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__rw{self.count}"

    def add_const(self, array: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        self.model.graph.initializer.append(numpy_helper.from_array(array, name))
        self.inits[name] = self.model.graph.initializer[-1]
        return name


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _input(node: onnx.NodeProto, i: int) -> str:
    return node.input[i] if len(node.input) > i else ""


def _dropout(g: _Graph, node: onnx.NodeProto, where: str) -> list[onnx.NodeProto]:
    """Inference Dropout is the identity with an all-true mask (the importer gives a float mask)."""
    training = g.const(_input(node, 2)) if _input(node, 2) else np.array(False)
    ratio = g.const(_input(node, 1)) if _input(node, 1) else np.array(_attr(node, "ratio", 0.5))
    if training is None or (bool(training) and (ratio is None or float(ratio) != 0.0)):
        raise GraphCompileError(f"{where}: training-mode Dropout (random masks) is not supported in whole graphs")
    out = [helper.make_node("Identity", [node.input[0]], [node.output[0]], name=f"{node.name}__identity")]
    mask = node.output[1] if len(node.output) > 1 else ""
    used = {n for other in g.model.graph.node for n in other.input} | {o.name for o in g.model.graph.output}
    if mask and mask in used:  # an unused mask (AlexNet's exports declare one) is simply not computed
        shape = g.fresh(mask)
        true = helper.make_tensor("value", TensorProto.BOOL, [1], [True])
        out.append(helper.make_node("Shape", [node.input[0]], [shape], name=f"{node.name}__shape"))
        out.append(helper.make_node("ConstantOfShape", [shape], [mask], name=f"{node.name}__mask", value=true))
    return out


def _isinf(g: _Graph, node: onnx.NodeProto, where: str) -> list[onnx.NodeProto]:
    """IsInf with detect_positive / detect_negative off: |x| == inf and the sign test (the importer drops them)."""
    pos, neg = _attr(node, "detect_positive", 1), _attr(node, "detect_negative", 1)
    if pos and neg:
        return [node]
    x, y = node.input[0], node.output[0]
    if not pos and not neg:
        shape = g.shapes.get(x)
        if shape is None:
            raise GraphCompileError(f"{where}: detecting neither sign needs the input's static shape")
        false = helper.make_tensor("value", TensorProto.BOOL, [1], [False])
        return [helper.make_node("ConstantOfShape", [g.add_const(np.array(shape, np.int64), y)], [y], value=false)]
    zero = g.add_const(np.zeros((), helper.tensor_dtype_to_np_dtype(g.types.get(x, TensorProto.FLOAT))), y)
    inf, sign = g.fresh(y), g.fresh(y)
    return [
        helper.make_node("IsInf", [x], [inf], name=f"{node.name}__isinf"),
        helper.make_node("Greater" if pos else "Less", [x, zero], [sign], name=f"{node.name}__sign"),
        helper.make_node("And", [inf, sign], [y], name=f"{node.name}__and"),
    ]


def _layer_norm(g: _Graph, node: onnx.NodeProto, where: str) -> list[onnx.NodeProto]:
    """LayerNormalization's optional Mean and InvStdDev outputs, computed by Reduce nodes next to the fused
    normalisation (the importer returns them as scalars)."""
    extra = [o for o in node.output[1:] if o]
    if not extra:
        return [node]
    x = node.input[0]
    shape = g.shapes.get(x)
    if shape is None or g.types.get(x) != TensorProto.FLOAT:
        raise GraphCompileError(f"{where}: the Mean / InvStdDev outputs need a float32 input of static shape")
    axis = _attr(node, "axis", -1) % len(shape)
    axes = list(range(axis, len(shape)))
    eps = _attr(node, "epsilon", 1e-5)

    def reduce_mean(src: str, dst: str) -> onnx.NodeProto:
        if g.opset >= 18:
            return helper.make_node("ReduceMean", [src, g.add_const(np.array(axes, np.int64), dst)], [dst], keepdims=1)
        return helper.make_node("ReduceMean", [src], [dst], axes=axes, keepdims=1)

    y = helper.make_node("LayerNormalization", list(node.input), [node.output[0]], name=node.name)
    y.attribute.extend(node.attribute)
    mean = node.output[1] if len(node.output) > 1 and node.output[1] else g.fresh("mean")
    diff, sq, var, veps, std = (g.fresh(mean) for _ in range(5))
    nodes = [y, reduce_mean(x, mean)]
    if len(node.output) > 2 and node.output[2]:
        nodes += [
            helper.make_node("Sub", [x, mean], [diff]),
            helper.make_node("Mul", [diff, diff], [sq]),
            reduce_mean(sq, var),
            helper.make_node("Add", [var, g.add_const(np.array(eps, np.float32), mean)], [veps]),
            helper.make_node("Sqrt", [veps], [std]),
            helper.make_node("Reciprocal", [std], [node.output[2]]),
        ]
    return nodes


def _conv_transpose(g: _Graph, node: onnx.NodeProto, where: str) -> list[onnx.NodeProto]:
    """ConvTranspose's output_shape becomes pads (and output_padding for growth at the end): the importer
    ignores output_shape."""
    out_shape = _attr(node, "output_shape")
    if not out_shape:
        return [node]
    x_shape, w_shape = g.shapes.get(node.input[0]), g.shapes.get(node.input[1])
    if x_shape is None or w_shape is None:
        raise GraphCompileError(f"{where}: output_shape needs static input and weight shapes")
    spatial = len(x_shape) - 2
    out_shape = list(out_shape)[-spatial:]
    strides = list(_attr(node, "strides", [1] * spatial))
    dilations = list(_attr(node, "dilations", [1] * spatial))
    out_pad = list(_attr(node, "output_padding", [0] * spatial))
    kernel = list(_attr(node, "kernel_shape", w_shape[2:]))
    upper = _attr(node, "auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER")
    begin, end = [], []
    for i in range(spatial):
        total = strides[i] * (x_shape[2 + i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - out_shape[i]
        b, e = (total // 2, total - total // 2) if upper else (total - total // 2, total // 2)
        if b < 0:
            raise GraphCompileError(f"{where}: output_shape {out_shape} needs negative leading padding")
        if e < 0:
            out_pad[i], e = out_pad[i] - e, 0
        begin.append(b)
        end.append(e)
    kept = [a for a in node.attribute if a.name not in ("output_shape", "pads", "auto_pad", "output_padding")]
    new = helper.make_node("ConvTranspose", list(node.input), list(node.output), name=node.name)
    new.attribute.extend(kept)
    new.attribute.extend([helper.make_attribute("pads", begin + end), helper.make_attribute("output_padding", out_pad)])
    return [new]


def _pow(g: _Graph, node: onnx.NodeProto, where: str) -> list[onnx.NodeProto]:
    """x ** 2 and x ** 3 (a constant exponent) as products, as onnxruntime computes them: the exp / log form,
    inlined into each use of its result (a tanh-GELU reads x ** 3 through fast_tanh several times), made
    LLVM take minutes for one kernel."""
    exponent = g.value(_input(node, 1))
    if exponent is None or exponent.size != 1 or g.types.get(node.input[0]) != TensorProto.FLOAT:
        return [node]
    n = float(exponent.reshape(()))
    if n not in (2.0, 3.0) or g.shapes.get(node.output[0]) != g.shapes.get(node.input[0]):
        return [node]
    x, y = node.input[0], node.output[0]
    if n == 2.0:
        return [helper.make_node("Mul", [x, x], [y], name=f"{node.name}__square")]
    square = g.fresh(y)
    return [
        helper.make_node("Mul", [x, x], [square], name=f"{node.name}__square"),
        helper.make_node("Mul", [square, x], [y], name=f"{node.name}__cube"),
    ]


def _refuse_if(check, why: str):
    def rewrite(g: _Graph, node: onnx.NodeProto, where: str) -> list[onnx.NodeProto]:
        if check(g, node):
            raise GraphCompileError(f"{where}: {why}")
        return [node]

    return rewrite


def _bn_training(g: _Graph, node: onnx.NodeProto) -> bool:
    return bool(_attr(node, "training_mode", 0))


def _float64_input(g: _Graph, node: onnx.NodeProto) -> bool:
    return any(g.types.get(n) == TensorProto.DOUBLE for n in node.input if n)


def _exotic_cast(g: _Graph, node: onnx.NodeProto) -> bool:
    to = _attr(node, "to") if node.op_type == "Cast" else g.types.get(_input(node, 1))
    src = g.types.get(node.input[0])
    half_double = {to, src} == {TensorProto.FLOAT16, TensorProto.DOUBLE}
    return (to is not None and to not in SUPPORTED_TYPES) or half_double


REWRITES = {
    "Pow": _pow,
    "Dropout": _dropout,
    "IsInf": _isinf,
    "LayerNormalization": _layer_norm,
    "ConvTranspose": _conv_transpose,
    "BatchNormalization": _refuse_if(
        _bn_training, "training-mode BatchNormalization (batch statistics) is not supported"
    ),
    "RoiAlign": _refuse_if(
        lambda g, n: _attr(n, "mode", b"avg") in (b"max", "max"),
        "RoiAlign mode 'max': TVM's max pooling of samples differs from ONNX's",
    ),
    "SpaceToDepth": _refuse_if(
        lambda g, n: _attr(n, "mode", b"DCR") not in (b"DCR", "DCR"),
        "SpaceToDepth mode 'CRD': TVM's importer ignores the mode",
    ),
    "Mod": _refuse_if(_float64_input, "float64 Mod: wasm graphs have no exact float64 remainder"),
    "Cast": _refuse_if(
        _exotic_cast,
        "a cast to or from a dtype wasm graphs do not compute (float8, 4-bit, bfloat16, "
        "or directly between float16 and float64)",
    ),
    "CastLike": _refuse_if(_exotic_cast, "a cast to or from a dtype wasm graphs do not compute"),
}


def rewrite(model: onnx.ModelProto) -> onnx.ModelProto:
    """Apply REWRITES to `model` in place (a copy made by the caller); raise for what must be refused."""
    if not any(n.op_type in REWRITES for n in model.graph.node):
        return model
    g = _Graph(model)
    nodes = []
    for i, node in enumerate(model.graph.node):
        fn = REWRITES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        nodes.extend(fn(g, node, describe(node, i)) if fn else [node])
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


__all__ = ["REWRITES", "rewrite"]

"""Whole graphs, recurrent layers: what an LSTM / GRU / RNN node's unrolling shares (kernels/onnx_recurrent.py).

The node's static dims and inputs (constants as numpy arrays, the rest as tensor names), its activation
functions, the per-step masks of a constant `sequence_lens`, and its outputs.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph_compiler import GraphCompileError
from .onnx_emitter import OnnxEmitter, Value
from .recurrent_spec import RECURRENT_ACTIVATIONS as _ACTIVATIONS

#: gates per op, and the default activations of one direction
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTS = {"RNN": ["tanh"], "GRU": ["sigmoid", "tanh"], "LSTM": ["sigmoid", "tanh", "tanh"]}

_ONNX_ACT = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softsign": "Softsign", "softplus": "Softplus"}
DTYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64}


class GraphInfo:
    """What the rewrite reads about the graph: constants, static shapes, graph inputs, used names."""

    def __init__(self, model: onnx.ModelProto):
        graph = model.graph
        self.model = model
        self.inits = {t.name: t for t in graph.initializer}
        self.constant_nodes = {n.output[0]: n for n in graph.node if n.op_type == "Constant" and n.output}
        self.inputs = {i.name for i in graph.input} - set(self.inits)
        self.types = {v.name: v.type.tensor_type for v in [*graph.input, *graph.value_info, *graph.output]}
        self.used = {o.name for o in graph.output} | set(consumed(graph))
        self.taken = set(self.inits) | {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
        self._inferred = False

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.constant_nodes.get(name)
        if node is not None:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
                if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
                    return np.asarray(helper.get_attribute_value(attr))
        return None

    def tensor_type(self, name: str):
        if name in self.inits:
            t = self.inits[name]
            return t.data_type, tuple(t.dims)
        elem, dims = self._declared(name)
        if (dims is None or None in dims) and not self._inferred and name not in self.inputs:
            self._inferred = True
            try:  # a value computed in the graph: its declared value_info may predate the caller's fixed dims
                inferred = onnx.shape_inference.infer_shapes(self.model, data_prop=True).graph
                self.types.update({v.name: v.type.tensor_type for v in [*inferred.value_info, *inferred.output]})
            except Exception:  # noqa: BLE001 - a model shape inference cannot read leaves the dims unknown
                pass
            elem, dims = self._declared(name)
        return elem, dims

    def _declared(self, name: str):
        tt = self.types.get(name)
        if tt is None or not tt.HasField("shape"):
            return (tt.elem_type if tt is not None else None), None
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim)
        return tt.elem_type, dims


def consumed(graph: onnx.GraphProto):
    for node in graph.node:
        yield from node.input
        for attr in node.attribute:  # subgraphs (If, Loop, Scan) may read outer names
            for g in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                yield from consumed(g)
                yield from (o.name for o in g.output)


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = [v.decode() if isinstance(v, bytes) else v for v in value] if isinstance(value, list) else value
        if isinstance(out[a.name], bytes):
            out[a.name] = out[a.name].decode()
    return out


class Layer:
    """One recurrent node: its static dims, inputs per direction, masks, and its outputs."""

    def __init__(self, e: OnnxEmitter, node: onnx.NodeProto, info: GraphInfo):
        self.e, self.node, self.info, self.op = e, node, info, node.op_type
        self.label = f"{node.op_type} node {node.name or next((o for o in node.output if o), '')!r}"
        a = self.attrs = _attrs(node)
        ins = list(node.input) + [""] * (8 - len(node.input))
        self.layout = int(a.get("layout", 0))
        direction = a.get("direction", "forward")
        if self.layout not in (0, 1) or direction not in ("forward", "reverse", "bidirectional"):
            raise self.error(f"layout {self.layout} / direction {direction!r} is not supported")
        self.reverse = [False, True] if direction == "bidirectional" else [direction == "reverse"]
        dirs, gates = len(self.reverse), GATES[self.op]
        elem, x_shape = info.tensor_type(ins[0])
        if elem is not None and elem not in DTYPES:
            raise self.error(f"X has element type {onnx.TensorProto.DataType.Name(elem)}; float and double only")
        if x_shape is None or len(x_shape) != 3:
            raise self.error(f"the shape of X ({ins[0]!r}) is unknown or not 3-D ({x_shape}): it must be static")
        names = ("batch_size", "seq_length") if self.layout else ("seq_length", "batch_size")
        for what, dim in zip([*names, "input_size"], x_shape, strict=True):
            if dim is None:
                raise self.error(
                    f"the {what} dim of X ({ins[0]!r}, shape {list(x_shape)}) is not static; fix symbolic input dims "
                    "before compiling"
                )
        self.steps, self.batch = (x_shape[1], x_shape[0]) if self.layout else (x_shape[0], x_shape[1])
        inputs = x_shape[2]
        r_shape = info.tensor_type(ins[2])[1]
        hidden = a.get("hidden_size", r_shape[-1] if r_shape and len(r_shape) == 3 else None)
        if hidden is None:
            raise self.error("hidden_size is not given and R's shape is unknown: the hidden dim is not static")
        self.hidden = h = int(hidden)
        expect = {
            1: (dirs, gates * h, inputs),
            2: (dirs, gates * h, h),
            3: (dirs, 2 * gates * h),
            4: (self.batch,),
            5: (dirs, self.batch, h),
            6: (dirs, self.batch, h),
            7: (dirs, 3 * h),
        }
        if self.layout:
            expect[5] = expect[6] = (self.batch, dirs, h)
        if self.op != "LSTM":
            del expect[6], expect[7]
        self.values: dict[int, Value | None] = {}
        for i, want in expect.items():
            name = ins[i]
            if not name:
                self.values[i] = None
                continue
            const = info.const(name)
            shape = tuple(const.shape) if const is not None else info.tensor_type(name)[1]
            if shape is not None and all(d is not None for d in shape) and tuple(shape) != want:
                raise self.error(f"input {i} ({name!r}) has shape {list(shape)}, expected {list(want)}")
            if const is not None:
                self.values[i] = const.astype(e.dtype) if i != 4 else const.astype(np.int64)
            else:
                e.shapes[name] = want
                self.values[i] = name
        e.shapes[ins[0]] = tuple(x_shape)
        x = e.transpose(ins[0], (1, 0, 2)) if self.layout else ins[0]
        self.x = e.reshape(x, (self.steps * self.batch, inputs))  # time-major rows: step t is rows [tB, tB + B)
        self.clip = None if a.get("clip") is None else float(a["clip"])
        self.acts = self._activations(dirs)
        self.masks = self._masks(ins[4])

    def error(self, why: str) -> GraphCompileError:
        return GraphCompileError(f"{self.label}: {why}")

    def _activations(self, dirs: int) -> list[list[tuple]]:
        """Per direction, the activation functions as (name, alpha, beta); alpha / beta consumed in order by the
        functions that take them."""
        defaults = _DEFAULT_ACTS[self.op]
        names = [str(n).lower() for n in self.attrs.get("activations", [])] or defaults * dirs
        if len(names) != len(defaults) * dirs:
            raise self.error(f"activations {names} must list {len(defaults)} functions per direction ({dirs})")
        alphas = [float(v) for v in self.attrs.get("activation_alpha", [])]
        betas = [float(v) for v in self.attrs.get("activation_beta", [])]
        out = []
        for name in names:
            if name not in _ACTIVATIONS:
                raise self.error(f"activation {name!r} is not supported; supported: {sorted(_ACTIVATIONS)}")
            uses_a, uses_b, alpha, beta = _ACTIVATIONS[name]
            alpha = alphas.pop(0) if uses_a and alphas else alpha
            beta = betas.pop(0) if uses_b and betas else beta
            if (uses_a and alpha is None) or (uses_b and beta is None):
                raise self.error(f"activation {name!r} needs activation_alpha / activation_beta values")
            out.append((name, alpha, beta))
        k = len(defaults)
        return [out[d * k : (d + 1) * k] for d in range(dirs)]

    def _masks(self, name: str) -> list[np.ndarray | None]:
        """Per step, a (B, 1) bool mask of the batch entries still inside their sequence; None: all are."""
        lens = self.values.get(4)
        if lens is not None and not isinstance(lens, np.ndarray):
            where = "a graph input" if name in self.info.inputs else "computed in the graph"
            raise self.error(f"sequence_lens ({name!r}) is {where}; only a constant can be compiled")
        if lens is None or (lens == self.steps).all():
            return [None] * self.steps
        if lens.min() < 1 or lens.max() > self.steps:
            raise self.error(f"sequence_lens {lens.tolist()} must lie in [1, seq_length={self.steps}]")
        if self.e.opset < 9:
            raise self.error(
                f"sequence_lens shorter than the sequence need Where (opset 9); the model has {self.e.opset}"
            )
        return [None if (lens > t).all() else (lens > t).reshape(self.batch, 1) for t in range(self.steps)]

    # ---- pieces per direction -----------------------------------------------------------------------------
    def weight_t(self, i: int, d: int) -> Value:
        """W[d]^T (input 1) or R[d]^T (input 2): (I or H, gates * H)."""
        return self.e.transpose(self.e.take(self.values[i], 0, d), (1, 0))

    def biases(self, d: int) -> tuple[Value, Value]:
        """(Wb, Rb) of direction d, each (gates * H,); zeros when B is absent."""
        n = GATES[self.op] * self.hidden
        b = self.values[3]
        if b is None:
            zero = np.zeros(n, self.e.dtype)
            return zero, zero
        bd = self.e.take(b, 0, d)
        return self.e.slice(bd, 0, 0, n), self.e.slice(bd, 0, n, 2 * n)

    def state(self, i: int, d: int) -> Value:
        """initial_h (5) / initial_c (6) of direction d as (B, H); zeros when absent."""
        v = self.values.get(i)
        if v is None:
            return np.zeros((self.batch, self.hidden), self.e.dtype)
        return self.e.take(v, 1 if self.layout else 0, d)

    def projections(self, d: int, bias: Value) -> list[Value]:
        """X W[d]^T + bias for all steps in one MatMul, split into one (B, gates * H) block per step by one Split
        (per-step Slices would each be a kernel of their own in Relax, their offsets baked in)."""
        e = self.e
        xw = e.binary("Add", e.binary("MatMul", self.x, self.weight_t(1, d)), bias)
        return e.split(xw, 0, [self.batch] * self.steps) if self.steps > 1 else [xw]

    def order(self, d: int) -> range:
        return range(self.steps - 1, -1, -1) if self.reverse[d] else range(self.steps)

    def activate(self, fn: tuple, x: Value, clip: bool = True) -> Value:
        e, (name, alpha, beta) = self.e, fn
        if clip and self.clip is not None:
            x = e.clip(x, self.clip)
        if name in _ONNX_ACT:
            return e.unary(_ONNX_ACT[name], x)
        if name == "leakyrelu":
            return e.unary("LeakyRelu", x, alpha=alpha)
        if name == "elu":
            return e.unary("Elu", x, alpha=alpha)
        if name == "hardsigmoid":
            return e.unary("HardSigmoid", x, alpha=alpha, beta=beta)
        if name == "thresholdedrelu":
            if e.opset >= 10:
                return e.unary("ThresholdedRelu", x, alpha=alpha)
            above = e.node("Greater", [x, e.scalar(alpha)], e.shape(x))
            return e.binary("Mul", x, e.node("Cast", [above], e.shape(x), to=helper.np_dtype_to_tensor_dtype(e.dtype)))
        if name == "scaledtanh":
            return e.binary("Mul", e.unary("Tanh", e.binary("Mul", x, e.scalar(beta))), e.scalar(alpha))
        return e.binary("Add", e.binary("Mul", x, e.scalar(alpha)), e.scalar(beta))  # affine

    def keep(self, t: int, new: Value, old: Value) -> Value:
        """The new state where step t is inside the entry's sequence, else the old one."""
        mask = self.masks[t]
        return new if mask is None else self.e.where(mask, new, old)

    def emitted(self, t: int, h: Value) -> Value:
        """Y's row for step t: h, or zeros past the entry's sequence."""
        mask = self.masks[t]
        return h if mask is None else self.e.where(mask, h, self.e.scalar(0))

    def finish(self, ys: list[dict], finals: list[list]) -> None:
        """Y (T, D, B, H) and the final states (D, B, H) (layout 1: batch first), under the node's output names;
        only the outputs something reads."""
        e, (b, h), dirs = self.e, (self.batch, self.hidden), len(self.reverse)
        outs = list(self.node.output) + [""] * 3
        if outs[0] and outs[0] in self.info.used:
            per_dir = [e.reshape(e.concat([y[t] for t in range(self.steps)], 0), (self.steps, 1, b, h)) for y in ys]
            y = e.concat(per_dir, 1)
            e.node("Identity", [e.transpose(y, (2, 0, 1, 3)) if self.layout else y], (), out=outs[0])
        for name, final in zip(outs[1:3], finals, strict=False):
            if name and name in self.info.used:
                s = e.reshape(e.concat(final, 0), (dirs, b, h))
                e.node("Identity", [e.transpose(s, (1, 0, 2)) if self.layout else s], (), out=name)


__all__ = ["DTYPES", "GATES", "GraphInfo", "Layer", "consumed"]

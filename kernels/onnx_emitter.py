"""Emit plain ONNX nodes for a graph rewrite, folding what is constant in numpy on the way.

A value is either a tensor name (its static shape tracked here) or a numpy array (a constant): an op whose
inputs are all constants is computed now, so weight slicing and transposes never reach the graph, and
constants become initializers only when a node uses them (equal ones stored once). The forms of Split and
Clip follow the model's opset (below opset 10 a slice is a piece of a Split). Ops are picked so that TVM's
importer emits no op on constants alone (Relax would JIT-compile each to fold it). Imports nothing of TVM,
registry/ or bindings/.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

Value = str | np.ndarray

_FOLD = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "MatMul": np.matmul}


class OnnxEmitter:
    """Collects the nodes and initializers that replace one or more nodes of a graph."""

    def __init__(self, taken: set[str], opset: int, dtype: np.dtype):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.opset, self.dtype, self.prefix = opset, np.dtype(dtype), "rewrite"
        self._taken = taken
        self._consts: dict[tuple, str] = {}
        self._count = 0

    # ---- names and constants ------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        while True:
            self._count += 1
            name = f"{self.prefix}/{hint}_{self._count}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    def const(self, array: np.ndarray) -> str:
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            name = self.fresh("const")
            self.inits.append(numpy_helper.from_array(array, name))
            self.shapes[name] = tuple(array.shape)
            self._consts[key] = name
        return self._consts[key]

    def scalar(self, x: float) -> np.ndarray:
        return np.asarray(x, self.dtype)

    def shape(self, v: Value) -> tuple[int, ...]:
        return tuple(v.shape) if isinstance(v, np.ndarray) else self.shapes[v]

    # ---- nodes --------------------------------------------------------------------------------------------
    def node(self, op: str, inputs: list[Value], shape: tuple[int, ...], out: str | None = None, **attrs) -> str:
        names = [self.const(v) if isinstance(v, np.ndarray) else v for v in inputs]
        out = out or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, names, [out], name=self.fresh(op), **attrs))
        self.shapes[out] = tuple(int(d) for d in shape)
        return out

    def binary(self, op: str, a: Value, b: Value) -> Value:
        """Add / Sub / Mul / MatMul; computed now when both are constants, x + 0 is x."""
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return _FOLD[op](a, b).astype(self.dtype)
        if op == "MatMul":
            shape = (*np.broadcast_shapes(self.shape(a)[:-2], self.shape(b)[:-2]), self.shape(a)[-2], self.shape(b)[-1])
            return self.node(op, [a, b], shape)
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        pairs = [(a, b), (b, a)] if op == "Add" else [(a, b)] if op == "Sub" else []
        for kept, zero in pairs:  # x + 0, 0 + x, x - 0: x itself (a zero initial state, an absent bias)
            if isinstance(zero, np.ndarray) and not zero.any() and self.shape(kept) == shape:
                return kept
        return self.node(op, [a, b], shape)

    def unary(self, op: str, v: Value, **attrs) -> str:
        return self.node(op, [v], self.shape(v), **attrs)

    def reshape(self, v: Value, shape: tuple[int, ...]) -> Value:
        if isinstance(v, np.ndarray):
            return v.reshape(shape)
        if self.shape(v) == tuple(shape):
            return v
        return self.node("Reshape", [v, np.asarray(shape, np.int64)], shape)

    def take(self, v: Value, axis: int, index: int) -> Value:
        """v[index] along `axis`, the axis dropped (a slice and a reshape: TVM's Gather adds index checks on
        the constant index that Relax JIT-compiles to fold)."""
        shape = self.shape(v)
        if isinstance(v, np.ndarray):
            return np.take(v, index, axis=axis)
        return self.reshape(self.slice(v, axis, index, index + 1), shape[:axis] + shape[axis + 1 :])

    def slice(self, v: Value, axis: int, start: int, stop: int) -> Value:
        shape = list(self.shape(v))
        if (start, stop) == (0, shape[axis]):
            return v
        if isinstance(v, np.ndarray):
            return v[(slice(None),) * axis + (slice(start, stop),)]
        if self.opset < 10:  # attribute Slice: TVM's importer reads only the input form; the middle of a Split
            sizes = [n for n in (start, stop - start, shape[axis] - stop) if n]
            return self.split(v, axis, sizes)[1 if start else 0]
        shape[axis] = stop - start
        bounds = [np.asarray([x], np.int64) for x in (start, stop, axis)]
        return self.node("Slice", [v, *bounds], shape)

    def split(self, v: str, axis: int, sizes: list[int]) -> list[str]:
        """Pieces of `sizes` along `axis`, by one Split node."""
        shape = list(self.shape(v))
        outs = [self.fresh("split") for _ in sizes]
        if self.opset < 13:
            node = helper.make_node("Split", [v], outs, name=self.fresh("Split"), axis=axis, split=sizes)
        else:
            inputs = [v, self.const(np.asarray(sizes, np.int64))]
            node = helper.make_node("Split", inputs, outs, name=self.fresh("Split"), axis=axis)
        self.nodes.append(node)
        for out, size in zip(outs, sizes, strict=True):
            self.shapes[out] = (*shape[:axis], size, *shape[axis + 1 :])
        return outs

    def transpose(self, v: Value, perm: tuple[int, ...]) -> Value:
        if isinstance(v, np.ndarray):
            return np.ascontiguousarray(v.transpose(perm))
        shape = self.shape(v)
        return self.node("Transpose", [v], tuple(shape[p] for p in perm), perm=list(perm))

    def concat(self, values: list[Value], axis: int) -> Value:
        if len(values) == 1:
            return values[0]
        if all(isinstance(v, np.ndarray) for v in values):
            return np.concatenate(values, axis=axis)
        shape = list(self.shape(values[0]))
        shape[axis] = sum(self.shape(v)[axis] for v in values)
        return self.node("Concat", values, shape, axis=axis)

    def clip(self, v: Value, bound: float) -> str:
        """v clipped to [-bound, bound]. From opset 11 Clip (and Max / Min) make TVM's importer emit ops on the
        constant bounds (NaN checks, broadcasts) that Relax's FoldConstant JIT-compiles one by one, ~0.25 s
        each: compares and Wheres instead (a NaN stays NaN, as with Clip)."""
        shape = self.shape(v)
        if self.opset < 11:
            return self.node("Clip", [v], shape, min=-bound, max=bound)
        low, high = self.scalar(-bound), self.scalar(bound)
        v = self.node("Where", [self.node("Greater", [v, high], shape), high, v], shape)
        return self.node("Where", [self.node("Less", [v, low], shape), low, v], shape)

    def where(self, cond: np.ndarray, a: Value, b: Value) -> str:
        shape = np.broadcast_shapes(cond.shape, self.shape(a), self.shape(b))
        return self.node("Where", [cond, a, b], shape)


__all__ = ["OnnxEmitter", "Value"]

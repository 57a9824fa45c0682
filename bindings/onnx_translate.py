"""ONNX graph -> op-library steps for one set of input shapes: the translator behind both graph paths.

The op-by-op session turns its steps into a Program. The whole-graph compiler uses the same walk only to learn,
for fixed input shapes, which values are constants (shape arithmetic, folded on the host) and the static shape
of every other value, so that TVM's importer sees a static model (bindings/graph_static.py).
Knows nothing of running: no runtime, no wasm memory.
"""

from __future__ import annotations

from collections import ChainMap

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ops.spec import TensorRef
from ..registry import dtypes, onnx_all  # noqa: F401 - registers every translator module
from ..registry.graph import GraphBuilder
from ..registry.onnx_ops import NeedsValue
from ..registry.table import REGISTRY, UnsupportedError

#: a graph input is read by value (to fold what depends on it) only up to this many elements
MAX_VALUE_INPUT = 64


class NeedsFeedValues(Exception):
    """Translation needs the values of these graph inputs (the session then specialises on them)."""

    def __init__(self, names: set[str], reason: str = ""):
        super().__init__(", ".join(sorted(names)))
        self.names = names
        self.reason = reason  # the node that needs them, and why


def np_dtype(vi: onnx.ValueInfoProto) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))


def input_dependencies(graph: onnx.GraphProto, inputs: set[str]) -> dict[str, set[str]]:
    """For each value of `graph`: the graph inputs whose *values* it depends on (a Shape reads shapes only).

    Values a subgraph reads from the enclosing scope count as inputs of the node that owns the subgraph."""
    deps: dict[str, set[str]] = {name: {name} for name in inputs}
    for node in graph.node:
        if node.op_type == "Shape" or node.op_type == "Size":
            found: set[str] = set()
        else:
            names = list(node.input)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    names += _outer_names(attr.g)
            found = set().union(*(deps.get(n, set()) for n in names if n))
        for out in node.output:
            deps[out] = found
    return deps


def _outer_names(graph: onnx.GraphProto) -> list[str]:
    """Names a subgraph reads without defining them (from its enclosing scope)."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    used = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used += _outer_names(attr.g)
        used += [n for n in node.input if n]
        defined |= set(node.output)
    used += [o.name for o in graph.output]
    return [n for n in used if n not in defined]


class Translator:
    """Walks an ONNX model's nodes over op-library translators (registry/onnx_*.py)."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        graph = model.graph
        #: the model's initializers, converted once (each new input shape reuses them)
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.inputs = [vi for vi in graph.input if vi.name not in self.constants]
        self.outputs = list(graph.output)
        self._deps: dict[str, set[str]] | None = None

    def translate(
        self, shapes: dict[str, tuple[int, ...]], known: dict[str, np.ndarray], *, tolerant: bool = False
    ) -> tuple[GraphBuilder, dict[str, TensorRef], dict[str, object], list[str]]:
        """Steps for these input shapes, with the inputs in `known` taken as constants.

        Returns the builder, the fed inputs, the top graph's values by name and, when `tolerant`, the problems
        of nodes that could not be translated (their outputs are left out instead of raising); a tolerant walk
        only traces values (weights are not packed)."""
        g = GraphBuilder(pack=not tolerant)
        g.subgraph = lambda graph, bound: self.translate_graph(g, graph, ChainMap(bound, g.scope))
        values: dict[str, object] = dict(self.constants)
        feeds, by_buffer = {}, {}
        for vi in self.inputs:
            if vi.name in known:
                values[vi.name] = known[vi.name]  # a constant of this program, in its own dtype
                continue
            ref = TensorRef(shapes[vi.name], dtypes.compute_dtype(np_dtype(vi)))
            feeds[vi.name] = values[vi.name] = ref
            by_buffer[id(ref.buffer)] = vi.name
        problems: list[str] = []
        scope = ChainMap(values)
        g.scope = scope
        try:
            self._translate_nodes(g, self.model.graph, scope, problems if tolerant else None)
        except NeedsValue as need:
            raise self._needs_feeds(need, scope, by_buffer) from None
        return g, feeds, dict(scope), problems

    def output_values(self, values: dict[str, object]) -> list:
        try:
            return [values[vi.name] for vi in self.outputs]
        except KeyError as exc:
            raise UnsupportedError(f"graph output {exc} is not computed") from None

    def _needs_feeds(self, need: NeedsValue, scope: ChainMap, by_buffer: dict) -> Exception:
        """The graph inputs to specialise on so that `need.ref` becomes a constant, or why it cannot be."""
        name = by_buffer.get(id(getattr(need.ref, "buffer", None)))
        if name is not None:
            return NeedsFeedValues({name}, str(need))
        value_name = next((k for k, v in scope.items() if v is need.ref), None)
        if self._deps is None:
            self._deps = input_dependencies(self.model.graph, {vi.name for vi in self.inputs})
        sources = self._deps.get(value_name) if value_name else None
        sizes = {vi.name: int(np.prod(ref.shape)) for vi in self.inputs if (ref := scope.get(vi.name)) is not None}
        if sources and all(sizes.get(s, MAX_VALUE_INPUT + 1) <= MAX_VALUE_INPUT for s in sources):
            return NeedsFeedValues(set(sources), str(need))  # computed from small inputs only: fold it for their values
        return UnsupportedError(f"{need}; here it is computed from tensor values at run time")

    def translate_graph(self, g: GraphBuilder, graph: onnx.GraphProto, outer) -> list:
        """Translate a subgraph's nodes over `outer` values (it sees its enclosing scope); its outputs."""
        local = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        values = ChainMap(local, outer)
        enclosing, g.scope = g.scope, values
        try:
            self._translate_nodes(g, graph, values, None)
            try:
                return [values[vi.name] for vi in graph.output]
            except KeyError as exc:
                raise UnsupportedError(f"graph output {exc} is not computed") from None
        finally:
            g.scope = enclosing

    def _translate_nodes(self, g: GraphBuilder, graph: onnx.GraphProto, values: ChainMap, problems) -> None:
        for i, node in enumerate(graph.node):
            label = f"node {node.name or i!r} ({node.op_type})"
            try:
                self._translate_node(g, node, label, values)
            except (NeedsValue, UnsupportedError) as exc:
                if problems is None:
                    raise
                problems.append(str(exc))

    def _translate_node(self, g: GraphBuilder, node: onnx.NodeProto, label: str, values: ChainMap) -> None:
        entry = REGISTRY.lookup("onnx", node.op_type, self.opset)
        if entry is None or node.domain not in ("", "ai.onnx"):
            raise UnsupportedError(f"{label}: operator {node.domain or 'ai.onnx'}.{node.op_type} is not supported")
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        try:
            args = [values[name] if name else None for name in node.input]
        except KeyError as exc:
            raise UnsupportedError(f"{label}: input {exc} is not computed by the op library") from None
        while args and args[-1] is None:
            args.pop()
        g.label, g.num_outputs = label, len(node.output)
        try:
            out = entry.translate(g, attrs, *args)
        except (NeedsValue, UnsupportedError):
            raise
        except (ValueError, TypeError, KeyError, NotImplementedError, OverflowError, IndexError) as exc:
            message = str(exc)
            raise UnsupportedError(message if message.startswith(label) else f"{label}: {message}") from None
        g.label = label
        outs = out if isinstance(out, list) else [out]
        for k, name in enumerate(node.output):
            if not name:
                continue
            if k >= len(outs) or outs[k] is None:
                raise UnsupportedError(f"{label}: output #{k} ({name!r}) is not supported")
            values[name] = outs[k]

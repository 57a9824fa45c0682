"""A MindSpore cell as MindSpore compiles it: its graph (MindIR), translated node by node onto wasm.

MindSpore's own compiler traces the cell for one set of input shapes (`ms.export(..., file_format="MINDIR")`,
the GRAPH_MODE front end: parsing, type inference, inlining). Every operation of construct is a primitive
node there — `x * y` is Mul, `ops.concat` Concat, `.mean()` ReduceMean, `out += y` InplaceAddExt — so the
registry's primitive translators ("ops.Mul", ...) turn the whole cell into one wasm program, nothing parses
Python. Plumbing nodes (Load, UpdateState, Depend, MakeTuple, TupleGetItem) only route values. A node
that cannot be translated is named with its reason (GraphTranslation.problems), and the caller keeps
that cell native.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import ops
from mindspore.train import mind_ir_pb2 as pb

from ..ops.spec import TensorRef
from ..registry.graph import GraphBuilder, is_const
from ..registry.mindspore_layout import _tuple_check
from ..registry.mindspore_ops import _CHECKS
from ..registry.table import REGISTRY, UnsupportedError

_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
       10: np.float16, 11: np.float64, 17: np.float64}  # fmt: skip
A = pb.AttributeProto
_INTS = {A.INT8, A.INT16, A.INT32, A.INT64, A.UINT8, A.UINT16, A.UINT32, A.UINT64}
_PLUMBING = {"Load", "UpdateState", "Depend", "MakeTuple", "TupleGetItem", "MakeList", "ListGetItem"}


class _Monad:
    """A side-effect token (UMONAD / IOMONAD): ordering only, no data."""


MONAD = _Monad()


def _tensor(t: pb.TensorProto) -> np.ndarray:
    if t.data_type not in _NP:
        raise UnsupportedError(f"tensor constant of MindIR data type {t.data_type}")
    dtype = np.dtype(_NP[t.data_type])
    shape = tuple(t.dims)
    if t.raw_data:
        return np.frombuffer(t.raw_data, dtype).reshape(shape).copy()
    data = t.float_data or t.int32_data or t.int64_data or t.double_data
    if len(data) != math.prod(shape):
        raise UnsupportedError(f"tensor {t.name or ''} of shape {shape} has no data in the exported graph")
    return np.asarray(list(data), dtype).reshape(shape)


def _value(a: pb.AttributeProto):
    """A constant node's (or a primitive attribute's) value as Python / numpy."""
    t = a.type
    if t in (A.FLOAT,):
        return a.floats[0] if a.floats else a.f
    if t in (A.DOUBLE,):
        return a.doubles[0] if a.doubles else a.d
    if t in _INTS:
        return int(a.ints[0] if a.ints else a.i)
    if t == A.BOOL:
        return bool(a.ints[0] if a.ints else a.i)
    if t == A.STRING:
        return (a.strings[0] if a.strings else a.s).decode()
    if t in (A.TUPLE, A.LIST):
        return tuple(_value(v) for v in a.values)
    if t == A.TENSORS:
        return _tensor(a.tensors[0])
    if t == A.TENSOR:
        return _tensor(a.t)
    if t == A.NONE:
        return None
    if t in (A.UMONAD, A.IOMONAD):
        return MONAD
    raise UnsupportedError(f"constant of MindIR type {A.AttributeType.Name(t)}")


def export_graph(cell, args) -> pb.ModelProto:
    """The cell's graph as MindSpore compiles it for these inputs (GRAPH_MODE front end, weights included)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "cell"
        try:
            ms.export(cell, *args, file_name=str(base), file_format="MINDIR")
        except Exception as exc:  # MindSpore raises RuntimeError / TypeError / ValueError by stage
            raise UnsupportedError(f"MindSpore could not compile the cell into a graph: {exc}") from exc
        model = pb.ModelProto()
        model.ParseFromString((base.with_suffix(".mindir")).read_bytes())
    return model


def _prim_class(name: str):
    from mindspore.ops.auto_generate import gen_ops_prim

    return getattr(gen_ops_prim, name, None) or getattr(ops, name, None)


def _arg_names(name: str) -> tuple[list[str], list[str]] | None:
    """(call inputs, init arguments) of a generated primitive: its graph node takes both, in that order."""
    cls = _prim_class(name)
    try:
        call = [p for p in inspect.signature(cls.__call__).parameters if p != "self"]
        init = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    except (TypeError, ValueError, AttributeError):
        return None
    if not call or call == ["args"] or any(p in ("args", "kwargs") for p in call):
        return None
    return call, init


def scope_path(scope: str) -> str:
    """ "Default/layers-SequentialCell/0-BasicBlock/conv1-Conv2d/Conv2D-op0" -> "layers.0.conv1" """
    parts = scope.split("/")[1:-1]
    return ".".join(p.rsplit("-", 1)[0] for p in parts)


def _numel(shape) -> int:
    return int(math.prod(shape)) if shape is not None else 0


@dataclass
class NodeInfo:
    """One compute node: where it came from, what it is, and whether (and why not) it runs on wasm."""

    path: str  # the cell path from the scope, plus a primitive attribute's name ("layers.0.add")
    prim: str  # "ops.Conv2D"
    flops: int
    problem: str = ""  # empty if it translates


@dataclass
class GraphTranslation:
    """The translation of one exported graph: the output value (None if a node could not be translated)."""

    nodes: list[NodeInfo] = field(default_factory=list)
    output: object = None
    inputs: list[TensorRef] = field(default_factory=list)

    @property
    def problems(self) -> list[NodeInfo]:
        return [n for n in self.nodes if n.problem]


def _out_shape(node: pb.NodeProto):
    """The node's (first) output shape, as MindSpore inferred it."""
    for a in node.attribute:
        if a.name == "shape":
            while not a.tensors and a.values:  # a tuple output: its first element
                a = a.values[0]
            return tuple(a.tensors[0].dims) if a.tensors else None
    return None


def _flops(prim: str, out_shape, in_shapes: list, attrs: dict) -> int:
    n = _numel(out_shape)
    if prim == "Conv2D" and len(in_shapes) > 1 and in_shapes[1]:
        return 2 * n * _numel(in_shapes[1][1:])
    if prim in ("MatMul", "BatchMatMul", "Dense", "MatMulExt", "BatchMatMulExt") and in_shapes and in_shapes[0]:
        k = in_shapes[0][-2] if attrs.get("transpose_a") else in_shapes[0][-1]
        return 2 * n * int(k)
    return n


def _flop_attrs(proto) -> dict:
    if proto is None:
        return {}
    return {a.name: bool(a.i) for a in proto.attribute if a.name == "transpose_a"}


def translate_graph(model: pb.ModelProto, g: GraphBuilder, prefix: str = "") -> GraphTranslation:
    """Translate every node of the graph; inputs become TensorRefs, parameters constants."""
    graph = model.graph
    prims = {f"{p.name}": p for p in model.primitives}
    values: dict[str, object] = {}
    shapes: dict[str, tuple | None] = {}
    result = GraphTranslation()
    for inp in graph.input:
        t = inp.tensor[0]
        ref = TensorRef(tuple(t.dims), np.dtype(_NP.get(t.data_type, np.float32)))
        result.inputs.append(ref)
        values[inp.name] = ref
        shapes[inp.name] = tuple(t.dims)
    for p in graph.parameter:
        values[p.name] = _tensor(p)
        shapes[p.name] = tuple(p.dims)
    failed: dict[str, str] = {}  # values that could not be computed on wasm -> the node that could not
    for node in graph.node:
        out = node.output[0]
        if node.op_type == "Constant":
            try:
                values[out] = _value(node.attribute[0])
            except UnsupportedError as exc:
                failed[out] = f"a constant ({exc})"
                values[out] = exc
            continue
        key = node.op_type.removeprefix("REF::")
        proto = prims.get(key)
        name = proto.op_type if proto is not None else key.split(":")[0]
        args = [values.get(i) for i in node.input]
        shapes[out] = _out_shape(node)
        bad = [i for i in node.input if i in failed]
        if name in _PLUMBING:
            try:
                values[out], lost = _route(name, args, node.input, failed)
            except UnsupportedError as exc:
                result.nodes.append(NodeInfo(scope_path(node.domain), f"ops.{name}", 0, str(exc)))
                values[out], lost = None, f"ops.{name} ({scope_path(node.domain) or 'top'})"
            if lost:
                failed[out] = lost
            continue
        path = scope_path(node.domain)
        instance = proto.instance_name if proto is not None else ""
        if instance:  # a primitive attribute of a cell: its attribute name
            path = f"{path}.{instance}" if path else instance
        path = f"{prefix}.{path}".strip(".") if prefix else path
        flops = _flops(name, shapes[out], [shapes.get(i) for i in node.input], _flop_attrs(proto))
        info = NodeInfo(path, f"ops.{name}", flops)
        result.nodes.append(info)
        if bad:
            info.problem = f"its input comes from {failed[bad[0]]}, which is not on wasm"
            failed[out] = failed[bad[0]]
            continue
        try:
            attrs = {a.name: _value(a) for a in proto.attribute} if proto is not None else {}
            values[out] = _translate_node(g, name, attrs, [a for a in args if a is not MONAD], info.path)
        except (UnsupportedError, ValueError, TypeError, KeyError, NotImplementedError, IndexError) as exc:
            info.problem = str(exc)
            failed[out] = f"{info.prim} ({info.path or 'top'})"
    name = graph.output[0].name
    result.output = None if name in failed or result.problems else values.get(name)
    return result


def _route(name: str, args: list, names, failed: dict) -> tuple[object, str]:
    """Load / Depend pass their first input on, MakeTuple packs, TupleGetItem picks (never a None).
    The second value names the untranslatable node a routed value depends on ("" if none)."""
    if name in ("Load", "Depend"):
        return args[0], failed.get(names[0], "")
    if name == "UpdateState":
        return MONAD, ""
    if name in ("MakeTuple", "MakeList"):
        return tuple(args), next((failed[n] for n in names if n in failed), "")
    if names[0] in failed:
        return None, failed[names[0]]
    item = args[0][int(args[1])]
    if item is None:
        raise UnsupportedError(f"output {int(args[1])} of a tuple-valued primitive is read; wasm does not compute it")
    return item, ""


def _translate_node(g: GraphBuilder, name: str, attrs: dict, args: list, label: str):
    entry = REGISTRY.lookup("mindspore", f"ops.{name}")
    if entry is None:
        raise UnsupportedError("no wasm translation")
    names = _arg_names(name)
    positional = list(args)
    if names is not None:
        call, init = names
        positional = list(args[: len(call)])
        attrs = {**attrs, **{k: v for k, v in zip(init, args[len(call) :], strict=False) if v is not None}}
    while positional and positional[-1] is None:
        positional.pop()
    check = _CHECKS.get(f"ops.{name}")
    if check is not None and check is not _tuple_check:
        problem = check(attrs)
        if problem:
            raise UnsupportedError(problem)
    g.label = f"{label} (ops.{name})"
    flat = []
    for a in positional:
        if isinstance(a, tuple | list) and any(isinstance(v, TensorRef) for v in a):
            flat.extend(a)  # a tuple of tensors (Concat's input) is the translator's *xs
        else:
            flat.append(np.asarray(a) if isinstance(a, tuple | list | int | float | bool) else a)
    out = entry.translate(g, attrs, *flat)
    if is_const(out) and not isinstance(out, tuple):
        out = np.asarray(out)
    return out

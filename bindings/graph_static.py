"""A model made static for whole-graph compilation: fixed input shapes, shape arithmetic folded, known Ifs inlined.

Real exports compute shapes inside the graph (`Shape -> Gather -> Mul -> Concat -> Reshape`, Range on a
computed size, Pad / Resize with computed pads and sizes) and branch on inputs such as a sample rate. TVM's
ONNX importer only takes such values as constants. For the input shapes the user fixes, the op-by-op
translator (bindings/onnx_translate.py) already evaluates every shape-only value on the host; here those
values replace the nodes that computed them, and an If whose condition is then known is replaced by the
branch it takes. What the importer gets is the same model for those shapes, with constants where it needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..kernels.graph_compiler import GraphCompileError
from ..registry.graph import is_const
from .onnx_translate import Translator, input_dependencies

#: rewrite rounds (each inlined If can expose more folding); real models need two or three
_MAX_ROUNDS = 16


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]


def _fix_inputs(model: onnx.ModelProto, input_shapes: Mapping[str, Sequence[int]]) -> None:
    """Give every graph input its static shape, or refuse naming each symbolic dim and the option to use."""
    inits = {t.name for t in model.graph.initializer}
    inputs = {vi.name: vi for vi in model.graph.input if vi.name not in inits}
    unknown = sorted(set(input_shapes) - set(inputs))
    if unknown:
        raise GraphCompileError(f"input_shapes names {unknown}, which are not inputs of the model {sorted(inputs)}")
    missing = []
    for name, vi in inputs.items():
        dims = _dims(vi)
        if name in input_shapes:
            shape = [int(d) for d in input_shapes[name]]
            fixed = len(shape) == len(dims) and all(
                not isinstance(d, int) or d < 0 or d == s for d, s in zip(dims, shape, strict=True)
            )
            if not fixed:
                raise GraphCompileError(f"input_shapes[{name!r}] = {tuple(shape)} does not fit the input's {dims}")
            if any(s < 0 for s in shape):
                raise GraphCompileError(f"input_shapes[{name!r}] = {tuple(shape)} has a negative size")
            del vi.type.tensor_type.shape.dim[:]
            for s in shape:
                vi.type.tensor_type.shape.dim.add().dim_value = s
        elif not vi.type.tensor_type.HasField("shape"):
            missing.append(f"{name!r} (no shape at all)")
        else:
            missing += [f"{name}[{i}] = {d!r}" for i, d in enumerate(dims) if not isinstance(d, int) or d < 0]
    if missing:
        example = ", ".join(
            f"{n!r}: ({', '.join(str(d) if isinstance(d, int) and d >= 0 else 'N' for d in _dims(vi))})"
            for n, vi in inputs.items()
            if n not in input_shapes
        )
        flags = " ".join(
            f"--input-shape {n}=" + "x".join(str(d) if isinstance(d, int) and d >= 0 else "N" for d in _dims(vi))
            for n, vi in inputs.items()
            if n not in input_shapes
        )
        raise GraphCompileError(
            f"the model has symbolic input dims: {', '.join(missing)}. A whole graph is compiled for one shape "
            f"per input: give them, e.g. compile_graph(model, out, input_shapes={{{example}}}) or "
            f"`wasmops compile model.onnx {flags}` (N: your size). Op by op (wasmops.onnx) any shape runs."
        )


def _freeze_inputs(model: onnx.ModelProto, input_values: Mapping[str, np.ndarray]) -> None:
    """Inputs given by value become initializers (a sample rate, a mode flag): the module no longer takes them."""
    inputs = {vi.name: vi for vi in model.graph.input}
    for name, value in input_values.items():
        vi = inputs.get(name)
        if vi is None:
            raise GraphCompileError(f"input_values names {name!r}, which is not an input of the model")
        want = np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))
        array = np.asarray(value)
        if array.dtype != want and not np.can_cast(array, want, casting="same_kind"):
            raise GraphCompileError(f"input_values[{name!r}] has dtype {array.dtype}; the input is {want}")
        model.graph.input.remove(vi)
        model.graph.initializer.append(numpy_helper.from_array(array.astype(want), name))


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """ONNX element type of every value onnx's shape inference can type (folded constants keep their type)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # a model onnx cannot infer: fall back to the folded values' own dtypes
        inferred = model
    graph = inferred.graph
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*graph.value_info, *graph.input, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return {k: v for k, v in types.items() if v}


def _as_initializer(name: str, value, elem_type: int | None) -> onnx.TensorProto:
    array = np.asarray(value)
    if elem_type:
        array = array.astype(helper.tensor_dtype_to_np_dtype(elem_type))
    return numpy_helper.from_array(array, name)


def _rename_reads(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """A nested subgraph reads the inlined branch's values under their new names (ONNX names are unique
    across scopes, so nothing it defines itself is in `rename`)."""
    for node in graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = rename.get(name, name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _rename_reads(attr.g, rename)
    for vi in graph.output:
        vi.name = rename.get(vi.name, vi.name)


def _inline_branch(node: onnx.NodeProto, branch: onnx.GraphProto, round_: int) -> list[onnx.NodeProto]:
    """The nodes of `branch` in place of the If `node`: its own names prefixed, its outputs renamed to the If's."""
    prefix = f"{node.name or node.output[0]}__r{round_}__"
    own = {t.name for t in branch.initializer} | {o for n in branch.node for o in n.output if o}
    rename = {name: prefix + name for name in own}

    def renamed(n: str) -> str:
        return rename.get(n, n)

    nodes = [
        helper.make_node("Constant", [], [rename[t.name]], name=prefix + t.name, value=t) for t in branch.initializer
    ]
    for inner in branch.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or inner.output[0])
        del copy.input[:]
        copy.input.extend(renamed(n) if n else "" for n in inner.input)
        del copy.output[:]
        copy.output.extend(renamed(n) if n else "" for n in inner.output)
        for attr in copy.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _rename_reads(attr.g, rename)
        nodes.append(copy)
    for out, vi in zip(node.output, branch.output, strict=True):
        if out:
            nodes.append(helper.make_node("Identity", [renamed(vi.name)], [out], name=f"{prefix}out_{out}"))
    return nodes


def _rewrite_round(model: onnx.ModelProto, values: dict, round_: int) -> bool:
    """Fold nodes whose outputs the translator found constant; inline Ifs whose condition is known."""
    graph = model.graph
    types = _elem_types(model)
    keep_names = {o.name for o in graph.output}
    have = {t.name for t in graph.initializer}
    nodes, changed = [], False
    for node in graph.node:
        outs = [o for o in node.output if o]
        cond = values.get(node.input[0]) if node.op_type == "If" else None
        if cond is not None and is_const(cond) and np.asarray(cond).size:
            flag = bool(np.asarray(cond).reshape(-1)[0])
            branch = next(a.g for a in node.attribute if a.name == ("then_branch" if flag else "else_branch"))
            nodes += _inline_branch(node, branch, round_)
            changed = True
        elif (
            outs
            and node.op_type not in ("Constant",)
            and all(o in values and is_const(values[o]) for o in outs)
            and not keep_names.intersection(outs)
        ):
            for o in outs:
                if o not in have:
                    graph.initializer.append(_as_initializer(o, values[o], types.get(o)))
                    have.add(o)
            changed = True
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return changed


def _prune(model: onnx.ModelProto) -> None:
    """Drop initializers nothing reads (folded intermediates of a folded chain)."""
    graph = model.graph
    initialized = {t.name for t in graph.initializer}  # before pruning: old-IR models list these as inputs too
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used.update(n for inner in attr.g.node for n in inner.input)
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [vi for vi in graph.input if vi.name not in initialized or vi.name in used]
    del graph.input[:]
    graph.input.extend(inputs)


def _check_runtime_ifs(model: onnx.ModelProto) -> None:
    """An If still in the graph branches on run-time data: refuse it, naming the inputs it depends on."""
    inputs = {vi.name for vi in model.graph.input} - {t.name for t in model.graph.initializer}
    deps = input_dependencies(model.graph, inputs)
    problems = []
    for i, node in enumerate(model.graph.node):
        if node.op_type == "If":
            sources = sorted(deps.get(node.input[0], set()))
            hint = (
                f"; it depends on input(s) {sources}: give their values with input_values={{{sources[0]!r}: ...}}"
                if sources
                else ""
            )
            problems.append(f"node {node.name or i!r} (If): its condition is only known at run time{hint}")
    if problems:
        raise GraphCompileError("; ".join(problems))


def specialise(
    model: onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    input_values: Mapping[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """A static copy of `model` for these input shapes (and frozen input values), ready for TVM's importer."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    _freeze_inputs(model, input_values or {})
    _fix_inputs(model, input_shapes or {})
    for round_ in range(_MAX_ROUNDS):
        translator = Translator(model)
        shapes = {vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim) for vi in translator.inputs}
        _, _, values, _ = translator.translate(shapes, {}, tolerant=True)
        if not _rewrite_round(model, values, round_):
            break
    _prune(model)
    _check_runtime_ifs(model)
    return model


__all__ = ["specialise"]

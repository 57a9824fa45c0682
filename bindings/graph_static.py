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


def _copy_body(body: onnx.GraphProto, prefix: str, bound: dict[str, str]) -> tuple[list, dict[str, str]]:
    """A copy of a subgraph's nodes with its own names prefixed and its inputs read from `bound` names."""
    own = {t.name for t in body.initializer} | {o for n in body.node for o in n.output if o}
    rename = {name: prefix + name for name in own} | bound
    nodes = [
        helper.make_node("Constant", [], [rename[t.name]], name=prefix + t.name, value=t) for t in body.initializer
    ]
    for inner in body.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = prefix + (inner.name or inner.output[0])
        del copy.input[:]
        copy.input.extend(rename.get(n, n) if n else "" for n in inner.input)
        del copy.output[:]
        copy.output.extend(rename.get(n, n) if n else "" for n in inner.output)
        for attr in copy.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _rename_reads(attr.g, rename)
        nodes.append(copy)
    return nodes, rename


def _inline_branch(node: onnx.NodeProto, branch: onnx.GraphProto, round_: int) -> list[onnx.NodeProto]:
    """The nodes of `branch` in place of the If `node`: its own names prefixed, its outputs renamed to the If's."""
    prefix = f"{node.name or node.output[0]}__r{round_}__"
    nodes, rename = _copy_body(branch, prefix, {})
    for out, vi in zip(node.output, branch.output, strict=True):
        if out:
            nodes.append(helper.make_node("Identity", [rename.get(vi.name, vi.name)], [out], name=f"{prefix}out_{out}"))
    return nodes


def _unroll_loop(node: onnx.NodeProto, trips: int, round_: int, opset: int) -> list[onnx.NodeProto]:
    """A Loop that ran `trips` iterations (the translator evaluated its trip count and conditions for these
    shapes) as that many copies of its body; scan outputs are the per-iteration values stacked on axis 0."""
    body = next(a.g for a in node.attribute if a.name == "body")
    prefix = f"{node.name or node.output[0]}__r{round_}__"
    names = [vi.name for vi in body.input]
    n_carried = len(node.input) - 2
    carried = list(node.input[2:])
    cond = node.input[1] if len(node.input) > 1 and node.input[1] else ""
    nodes: list[onnx.NodeProto] = []
    scans: list[list[str]] = [[] for _ in range(len(body.output) - 1 - n_carried)]
    for k in range(trips):
        step = f"{prefix}it{k}__"
        nodes.append(helper.make_node("Constant", [], [step + "iter"], value=numpy_helper.from_array(np.int64(k))))
        if not cond:
            nodes.append(helper.make_node("Constant", [], [step + "cond"], value=numpy_helper.from_array(np.bool_(1))))
        bound = {names[0]: step + "iter", names[1]: cond or step + "cond"}
        bound.update(zip(names[2:], carried, strict=True))
        copied, rename = _copy_body(body, step, bound)
        nodes += copied
        outs = [rename.get(vi.name, vi.name) for vi in body.output]
        cond, carried = outs[0], outs[1 : 1 + n_carried]
        for acc, name in zip(scans, outs[1 + n_carried :], strict=True):
            acc.append(name)
    axes = f"{prefix}axes0"
    if any(scans):
        nodes.append(helper.make_node("Constant", [], [axes], value=numpy_helper.from_array(np.array([0], np.int64))))
    finals = carried + [f"{prefix}scan{j}" for j in range(len(scans))]
    for j, acc in enumerate(scans):
        parts = [f"{prefix}scan{j}_{k}" for k in range(len(acc))]
        if opset >= 13:
            nodes += [helper.make_node("Unsqueeze", [a, axes], [p]) for a, p in zip(acc, parts, strict=True)]
        else:  # axes was an attribute before opset 13
            nodes += [helper.make_node("Unsqueeze", [a], [p], axes=[0]) for a, p in zip(acc, parts, strict=True)]
        nodes.append(helper.make_node("Concat", parts, [finals[len(carried) + j]], axis=0))
    for out, name in zip(node.output, finals, strict=True):
        if out:
            nodes.append(helper.make_node("Identity", [name], [out], name=f"{prefix}out_{out}"))
    return nodes


def _rewrite_round(model: onnx.ModelProto, values: dict, trips: dict[str, int], round_: int) -> bool:
    """Fold nodes whose outputs the translator found constant; inline Ifs whose condition is known; unroll
    Loops whose iterations it counted."""
    graph = model.graph
    types = _elem_types(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    keep_names = {o.name for o in graph.output}
    have = {t.name for t in graph.initializer}
    nodes, changed = [], False
    for i, node in enumerate(graph.node):
        outs = [o for o in node.output if o]
        label = f"node {node.name or i!r} ({node.op_type})"
        cond = values.get(node.input[0]) if node.op_type == "If" else None
        if cond is not None and is_const(cond) and np.asarray(cond).size:
            flag = bool(np.asarray(cond).reshape(-1)[0])
            branch = next(a.g for a in node.attribute if a.name == ("then_branch" if flag else "else_branch"))
            nodes += _inline_branch(node, branch, round_)
            changed = True
        elif node.op_type == "Loop" and label in trips and not all(o in values and is_const(values[o]) for o in outs):
            if any(n in values and not is_const(values[n]) for n in node.input[:2] if n):
                raise GraphCompileError(f"{label}: its trip count or condition is only known at run time")
            nodes += _unroll_loop(node, trips[label], round_, opset)
            changed = True
        elif outs and node.op_type != "Constant" and all(o in values and is_const(values[o]) for o in outs):
            for o in outs:
                tensor = _as_initializer(o, values[o], types.get(o))
                if o in keep_names:  # a graph output known for these shapes: a Constant node produces it
                    nodes.append(helper.make_node("Constant", [], [o], name=f"{o}__folded", value=tensor))
                elif o not in have:
                    graph.initializer.append(tensor)
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
    used = {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                used.update(n for inner in attr.g.node for n in inner.input)
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [vi for vi in graph.input if vi.name not in {t.name for t in graph.initializer} or vi.name in used]
    del graph.input[:]
    graph.input.extend(inputs)


def _check_control_flow(model: onnx.ModelProto) -> None:
    """Control flow still in the graph depends on run-time data: refuse it, naming the inputs it depends on."""
    inputs = {vi.name for vi in model.graph.input} - {t.name for t in model.graph.initializer}
    deps = input_dependencies(model.graph, inputs)
    problems = []
    for i, node in enumerate(model.graph.node):
        if node.op_type not in ("If", "Loop", "Scan"):
            continue
        what = {"If": "its condition is", "Loop": "its trip count or condition is"}.get(node.op_type)
        controls = node.input[:1] if node.op_type == "If" else node.input[:2] if node.op_type == "Loop" else []
        sources = sorted(set().union(*(deps.get(n, set()) for n in controls if n)))
        if sources:
            hint = f"; it depends on input(s) {sources}: give their values with input_values={{{sources[0]!r}: ...}}"
        elif what:
            hint = " (computed from tensor data)"
        else:
            hint = ""
        if what:
            problems.append(f"node {node.name or i!r} ({node.op_type}): {what} only known at run time{hint}")
        else:
            problems.append(f"node {node.name or i!r} (Scan): not supported in whole graphs (op by op runs it)")
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
        g, _, values, _ = translator.translate(shapes, {}, tolerant=True)
        if not _rewrite_round(model, values, g.trips, round_):
            break
    _prune(model)
    _check_control_flow(model)
    return model


__all__ = ["specialise"]

"""What a whole graph can be compiled from, checked before and during compilation, with refusals naming nodes.

TVM's importer, lowering and the linker report failures in their own terms (a Relax op, a fused kernel, an
undefined libm symbol). These helpers turn each into a GraphCompileError that names the ONNX node(s), their
operator and the reason: every unsupported node at once before import, a converter's failure with its node,
an undefined symbol with the kernels that call it and the nodes those kernels come from.
Build-time only (imports TVM lazily).
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import onnx


class GraphCompileError(ValueError):
    """The model cannot be compiled to a whole-graph module; the message names the node or construct."""


#: graph input / output element types the wasm path computes (TVM dtypes wasm32 lowers without libcalls)
SUPPORTED_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.INT8,
    onnx.TensorProto.INT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.UINT16,
    onnx.TensorProto.UINT32,
    onnx.TensorProto.UINT64,
    onnx.TensorProto.BOOL,
}


def describe(node: onnx.NodeProto, index: int | None = None) -> str:
    """`node 'name' (Op)`, or `node #i (Op)` for an unnamed node."""
    name = node.name if node.name else (f"#{index}" if index is not None else "(unnamed)")
    return f"node {name if name.startswith('#') else repr(name)} ({node.op_type})"


def name_nodes(model: onnx.ModelProto) -> None:
    """Give unnamed nodes the name `#i` (their position), so the importer's messages can name them."""
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"#{i}"


def _type_name(elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type).lower()


def check_io(model: onnx.ModelProto) -> None:
    """One fixed shape and a computable dtype per graph input and output: tensors only, static dims
    (zero-size and 0-d inputs are static), dtypes in SUPPORTED_TYPES; every offender named at once."""
    inits = {t.name for t in model.graph.initializer}
    problems = []
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for vi in values:
            if vi.name in inits:
                continue
            if not vi.type.HasField("tensor_type"):
                problems.append(f"{kind} {vi.name!r} is a {vi.type.WhichOneof('value')}, not a tensor")
                continue
            tt = vi.type.tensor_type
            if tt.elem_type not in SUPPORTED_TYPES:
                dtype = _type_name(tt.elem_type)
                problems.append(f"{kind} {vi.name!r} has dtype {dtype}, which wasm graphs do not compute")
            if kind == "output":
                continue
            dims = tt.shape.dim
            if not tt.HasField("shape") or any(not d.HasField("dim_value") or d.dim_value < 0 for d in dims):
                shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
                problems.append(
                    f"input {vi.name!r} has shape {shown if tt.HasField('shape') else 'unknown'}: whole graphs need "
                    "static input shapes (fix them in the model, e.g. with onnx.tools.update_model_dims, or run it "
                    "op by op with wasmops.onnx)"
                )
    if problems:
        raise GraphCompileError("; ".join(problems))


def zero_size_inputs_as_constants(model: onnx.ModelProto) -> None:
    """A static input with a 0 dim has one possible value, the empty tensor: make it an initializer (the
    importer then sees constant empty axes, pads, ...). The compiled module still lists it as an input."""
    from onnx import numpy_helper

    inits = {t.name for t in model.graph.initializer}
    kept = []
    for vi in model.graph.input:
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        if vi.name not in inits and vi.type.HasField("tensor_type") and 0 in dims and min(dims) >= 0:
            empty = np.zeros(dims, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))
            model.graph.initializer.append(numpy_helper.from_array(empty, vi.name))
        else:
            kept.append(vi)
    del model.graph.input[:]
    model.graph.input.extend(kept)


def check_converters(model: onnx.ModelProto) -> None:
    """Every node TVM's ONNX importer has no converter for, named at once (it would name only op types)."""
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    known = set(_get_convert_map()) | {"If", "Constant"}
    missing = [
        describe(n, i)
        for i, n in enumerate(model.graph.node)
        if n.op_type not in known or n.domain not in ("", "ai.onnx")
    ]
    if missing:
        raise GraphCompileError(f"TVM's ONNX importer has no converter for {', '.join(missing)}")


def _reason(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"


def import_onnx(model: onnx.ModelProto):
    """TVM's `from_onnx`, with a failing converter named by node (the importer prints the op and raises
    whatever its converter raised; its prints are swallowed here)."""
    from tvm.relax.frontend.onnx import onnx_frontend as of

    ops = {n.name: n.op_type for n in model.graph.node}

    class Importer(of.ONNXGraphImporter):
        def _convert_operator(self, op_name, inputs, attrs, opset):
            try:
                return super()._convert_operator(op_name, inputs, attrs, opset)
            except GraphCompileError:
                raise
            except Exception as exc:
                node = onnx.helper.make_node(op_name, [], [], name=attrs["tvm_custom"]["name"] or "(unnamed)")
                why = f"TVM's ONNX importer cannot convert it: {_reason(exc)}"
                raise GraphCompileError(f"{describe(node)}: {why}") from None

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    inits = {t.name for t in model.graph.initializer}
    shapes = {  # the importer takes a 0 dim for unknown: give it the static shapes (zero-size included)
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in model.graph.input
        if vi.name not in inits and vi.type.HasField("tensor_type")
    }
    importer = Importer(shapes, "float32", keep_params_in_input=False, sanitize=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return importer.from_onnx(model.graph, opset)
    except GraphCompileError:
        raise
    except Exception as exc:  # outside a converter (input parsing, shape-expression checks): name what we can
        reason = _reason(exc)
        match = re.search(r"Node (\S+) cannot", reason)
        if match and match.group(1) in ops:
            node = onnx.helper.make_node(ops[match.group(1)], [], [], name=match.group(1))
            raise GraphCompileError(f"{describe(node)}: TVM's ONNX importer cannot convert it: {reason}") from None
        raise GraphCompileError(f"TVM's ONNX importer refused the model: {reason}") from None


def _snake(op_type: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", op_type).lower()


def nodes_for(model: onnx.ModelProto, kernel: str) -> str:
    """The ONNX nodes a fused kernel (or Relax construct) most likely comes from, matched by operator name;
    every node (up to 8) when none matches."""
    kernel = kernel.lower()
    nodes = list(enumerate(model.graph.node))
    hits = [describe(n, i) for i, n in nodes if _snake(n.op_type) in kernel or n.op_type.lower() in kernel]
    if hits:
        return ", ".join(hits)
    shown = ", ".join(describe(n, i) for i, n in nodes[:8])
    return f"one of {shown}{', ...' if len(nodes) > 8 else ''}"


#: undefined symbols wasm-ld reports, and what they mean for the model
_SYMBOL_REASONS = {
    "__trunc": "a float conversion to a narrower float type (no compiler-rt in wasm graphs)",
    "__extend": "a float conversion to a wider float type (no compiler-rt in wasm graphs)",
    "__fix": "a float-to-integer conversion helper (no compiler-rt in wasm graphs)",
    "__float": "an integer-to-float conversion helper (no compiler-rt in wasm graphs)",
}


def symbol_reason(symbol: str) -> str:
    for prefix, why in _SYMBOL_REASONS.items():
        if symbol.startswith(prefix):
            return why
    return "a libm function (wasm graphs have no libm; only the op library's own expressions)"


def callers(llvm_ir: str, symbols: set[str], kernels: list[str]) -> dict[str, set[str]]:
    """symbol -> the kernels whose functions in an LLVM IR listing call it (directly, or through the LLVM
    intrinsic that codegen turns into that call: llvm.cos.* -> cosf)."""
    patterns = {s: re.compile(rf"@\"?({re.escape(s)}|llvm\.{re.escape(s.rstrip('f'))}\.)") for s in symbols}
    by_length = sorted(kernels, key=len, reverse=True)
    found: dict[str, set[str]] = {s: set() for s in symbols}
    current = None
    for line in llvm_ir.splitlines():
        if line.startswith("define "):
            match = re.search(r"@\"?([\w.$]+)\"?\(", line)
            name = match.group(1).removeprefix("__tvm_ffi_") if match else ""
            current = next((k for k in by_length if name == k or name.startswith(k + "_")), None)
        elif current and "call" in line:
            for sym, pattern in patterns.items():
                if pattern.search(line):
                    found[sym].add(current)
    return found


def link_refusal(model: onnx.ModelProto, message: str, llvm_ir: str, kernels: list[str]) -> GraphCompileError | None:
    """A GraphCompileError naming the nodes behind wasm-ld's undefined symbols, or None for another failure."""
    symbols = set(re.findall(r"undefined symbol: (\S+)", message))
    if not symbols:
        return None
    parts = []
    for sym, users in sorted(callers(llvm_ir, symbols, kernels).items()):
        where = "; ".join(f"kernel {k} from {nodes_for(model, k)}" for k in sorted(users)) or nodes_for(model, "")
        parts.append(f"{sym} ({symbol_reason(sym)}) is called by {where}")
    return GraphCompileError("wasm graphs cannot link: " + "; ".join(parts))


def stage_refusal(model: onnx.ModelProto, stage: str, exc: BaseException, kernel: str = "") -> GraphCompileError:
    """A failure inside TVM while `stage` (lowering, scheduling, compiling), as a refusal naming the nodes."""
    where = f"kernel {kernel} from {nodes_for(model, kernel)}" if kernel else nodes_for(model, "")
    return GraphCompileError(f"{stage} failed for {where}: {_reason(exc)}")


__all__ = [
    "GraphCompileError",
    "check_converters",
    "check_io",
    "import_onnx",
    "link_refusal",
    "name_nodes",
    "nodes_for",
    "stage_refusal",
]

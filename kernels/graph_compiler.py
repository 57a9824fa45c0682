"""Whole-graph compilation: an ONNX model -> one self-contained .wasm (fused kernels, executor, weights).

Pipeline: TVM Relax's ONNX importer -> BatchNorm folded into convs, inference decompositions, legalisation
(convolutions and dense layers with constant weights become the op library's own computes, weights packed
at compile time) -> FuseOps / FuseTIR (bias, BN, residual adds and activations become conv epilogues) ->
our wasm SIMD schedules for every fused kernel (kernels/graph_schedule.py) -> Relax's static memory plan ->
a generated C executor: a kernel table, static DLTensors over one arena, a step list run by the op
library's plan runner (kernels/wasm_support.c). Linked by wasm-ld into one module that imports only its
(shared) memory.

The Relax VM does not run inside wasm, so the lowered `main` is walked here and turned into that C.
Build-time only (needs TVM and ziglang).
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from . import graph_checks as checks
from . import graph_format as gf
from .builder import _features, link_module
from .graph_checks import GraphCompileError
from .graph_executor import c_source
from .graph_kernels import schedule_kernels, write_objects
from .graph_layout import matmul_as_conv
from .graph_packing import Packings
from .graph_plan import Buffer, Plan, read_plan
from .graph_rewrites import rewrite

ISAS = ("relaxed-simd", "simd128")
#: above this, weights go to a side file by default (a data segment that size slows every load)
EMBED_LIMIT = 256 << 20


# ------------------------------------------------------------------------------------------------------
# ONNX canonicalisation: what Relax's importer would turn into slower IR
# ------------------------------------------------------------------------------------------------------
def _fold_constant_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Nodes whose inputs are all initializers become initializers, evaluated by onnx's reference evaluator
    (numpy). Relax's FoldConstant would JIT-compile each of them with LLVM instead (~0.2 s a node)."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    known = {t.name: t for t in graph.initializer}
    opset = list(model.opset_import)
    kept = []
    for node in graph.node:
        inputs = [n for n in node.input if n]
        if node.op_type in ("Constant",) or (
            inputs and all(n in known for n in inputs) and node.domain in ("", "ai.onnx") and node.op_type != "Loop"
        ):
            sub = onnx.helper.make_graph(
                [node],
                "fold",
                [],
                [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o],
                [known[n] for n in dict.fromkeys(inputs)],
            )
            try:
                values = ReferenceEvaluator(onnx.helper.make_model(sub, opset_imports=opset)).run(None, {})
            except Exception:  # anything the reference evaluator cannot do stays in the graph
                kept.append(node)
                continue
            for name, value in zip([o for o in node.output if o], values, strict=True):
                known[name] = numpy_helper.from_array(np.asarray(value), name)
                graph.initializer.append(known[name])
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    return model


#: ops whose output has the rank of their first input (enough to place a BatchNormalization's channel axis;
#: onnx's shape inference gives up on models whose initializers are also declared as shapeless inputs)
_RANK_KEEPING = {"Conv", "MaxPool", "AveragePool", "BatchNormalization", "Relu", "Concat", "Add", "Mul", "Sub", "Div"}
_RANK_KEEPING |= {"Sigmoid", "Tanh", "LeakyRelu", "Clip", "Dropout", "Identity", "LRN", "Sum", "PRelu", "ConvTranspose"}


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    ranks = {
        i.name: len(i.type.tensor_type.shape.dim) for i in model.graph.input if i.type.tensor_type.HasField("shape")
    }
    ranks.update({t.name: len(t.dims) for t in model.graph.initializer})
    for node in model.graph.node:
        if node.op_type in _RANK_KEEPING and node.input and node.input[0] in ranks:
            for out in node.output:
                ranks[out] = ranks[node.input[0]]
    return ranks


def count_consumers(graph: onnx.GraphProto) -> dict[str, int]:
    """How many node inputs (and graph outputs) read each value: a rewrite may only fuse away a value read once."""
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    for out in graph.output:
        consumers[out.name] = consumers.get(out.name, 0) + 1
    return consumers


def canonicalize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite what Relax would make slow to compile or to run, in numpy, on a copy of the model.

    - BatchNormalization after a Conv with constant weights is folded into the conv's weight and bias; any
      other inference BatchNormalization becomes Mul + Add by per-channel constants. (Relax's
      FoldBatchnormToConv2D + FoldConstant do the same by JIT-compiling every constant expression with LLVM:
      ~0.4 s per layer.)
    - Sum of n inputs -> a chain of Adds (the importer stacks and reduces them, which defeats fusion).
    """
    from onnx import numpy_helper

    model = _fold_constant_nodes(onnx.ModelProto.FromString(model.SerializeToString()))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = count_consumers(graph)
    producer = {out: node for node in graph.node for out in node.output}
    ranks = _ranks(model)

    def const(name: str) -> np.ndarray | None:
        return numpy_helper.to_array(inits[name]).astype(np.float64) if name in inits else None

    def add_init(array: np.ndarray, name: str) -> str:
        graph.initializer.append(numpy_helper.from_array(array.astype(np.float32), name))
        inits[name] = graph.initializer[-1]
        return name

    nodes, dropped = [], set()
    for node in graph.node:
        if node.op_type == "BatchNormalization" and not any(consumers.get(o) for o in node.output[1:] if o):
            params = [const(n) for n in node.input[1:5]]
            if all(p is not None for p in params):
                gamma, beta, mean, var = params
                eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
                scale = gamma / np.sqrt(var + eps)
                shift = beta - mean * scale
                conv = producer.get(node.input[0])
                weight = const(conv.input[1]) if conv is not None and conv.op_type == "Conv" else None
                if weight is not None and consumers.get(node.input[0]) == 1 and id(conv) not in dropped:
                    bias = const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(len(scale))
                    if bias is not None:
                        w_name = add_init(weight * scale.reshape(-1, *[1] * (weight.ndim - 1)), f"{node.output[0]}__w")
                        b_name = add_init(bias * scale + shift, f"{node.output[0]}__b")
                        folded = onnx.helper.make_node(
                            "Conv", [conv.input[0], w_name, b_name], [node.output[0]], name=conv.name
                        )
                        folded.attribute.extend(conv.attribute)
                        nodes[nodes.index(conv)] = folded
                        dropped.add(id(conv))
                        continue
                rank = ranks.get(node.input[0])
                if rank is None or rank < 2:  # unknown layout: leave it to Relax
                    nodes.append(node)
                    continue
                per_channel = (len(scale),) + (1,) * (rank - 2)
                s_name = add_init(scale.reshape(per_channel), f"{node.output[0]}__scale")
                t_name = add_init(shift.reshape(per_channel), f"{node.output[0]}__shift")
                mid = f"{node.output[0]}__scaled"
                nodes.append(onnx.helper.make_node("Mul", [node.input[0], s_name], [mid], name=f"{node.name}__mul"))
                nodes.append(onnx.helper.make_node("Add", [mid, t_name], [node.output[0]], name=f"{node.name}__add"))
                continue
        if node.op_type == "Sum" and len(node.input) >= 2:
            acc = node.input[0]
            for i, name in enumerate(node.input[1:], 1):
                out = node.output[0] if i == len(node.input) - 1 else f"{node.output[0]}__sum{i}"
                nodes.append(onnx.helper.make_node("Add", [acc, name], [out], name=f"{node.name}__add{i}"))
                acc = out
        elif node.op_type == "Sum" and len(node.input) == 1:
            nodes.append(onnx.helper.make_node("Identity", list(node.input), list(node.output), name=node.name))
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


# ------------------------------------------------------------------------------------------------------
# Relax: import, optimise, fuse, schedule, memory-plan
# ------------------------------------------------------------------------------------------------------
def lower(model: onnx.ModelProto, convs: dict, tick, packings=None, variants: dict | None = None):
    """ONNX -> Relax module of fused PrimFuncs and a memory-planned main; `convs` collects the convs
    legalised to our compute (see graph_schedule), `packings` how their packed weights are made,
    `variants` the tuned conv variants by configuration (the others get the hand choice)."""
    import tvm
    from tvm import relax

    from . import graph_schedule

    checks.check_converters(model)
    mod = checks.import_onnx(model)  # a converter's failure names its node
    tick("imported")
    mod = tvm.transform.Sequential(
        [
            relax.transform.FoldBatchnormToConv2D(),
            relax.transform.DecomposeOpsForInference(),
            relax.transform.FoldConstant(),
        ]
    )(mod)
    tick("folded batch norms and constants")
    mod = relax.transform.LegalizeOps(graph_schedule.legalize_map(convs, packings, variants))(mod)
    mod = tvm.transform.Sequential(
        [
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
            relax.transform.DeadCodeElimination(),
        ]
    )(mod)
    tick("legalised and fused")
    mod = tvm.transform.Sequential(
        [
            relax.transform.RewriteDataflowReshape(),
            relax.transform.ToNonDataflow(),
            relax.transform.RemovePurityChecking(),
            relax.transform.CallTIRRewrite(),
            relax.transform.StaticPlanBlockMemory(),
        ]
    )(mod)
    tick("memory planned")
    return mod


def _check_static_inputs(model: onnx.ModelProto) -> None:
    """A compiled graph has one fixed shape per input (zero-size and 0-d are fixed too) and a dtype wasm
    computes: refuse symbolic or unknown dims, non-tensor and unsupported dtypes up front."""
    checks.check_io(model)


def sources() -> list[Path]:
    """Every file whose contents decide a compiled graph's bytes (besides the model and TVM)."""
    from .. import ops

    here, ops_dir = Path(__file__).parent, Path(ops.__file__).parent
    names = ("graph_compiler.py", "graph_schedule.py", "graph_format.py", "builder.py", "wasm_support.c")
    names += ("graph_executor.py", "graph_packing.py", "graph_plan.py")
    names += ("onnx_recurrent.py", "onnx_recurrent_layer.py", "onnx_emitter.py", "recurrent_spec.py")
    names += ("graph_checks.py", "graph_rewrites.py", "graph_legalize_math.py", "graph_kernels.py")
    names += ("graph_layout.py", "wasm_object.py")
    names += ("tune/records.py",)
    files = [here / n for n in names]
    return files + sorted(ops_dir.glob("_*.py")) + [ops_dir / "unary.py", ops_dir / "simd_schedules.py"]


def _io_names(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    inits = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits], [o.name for o in model.graph.output]


def _prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    """Whole graphs only (canonicalize is shared with the op-by-op session): unnamed nodes named `#i` for
    refusals, zero-size inputs made constants, and the nodes TVM's importer would get wrong rewritten or
    refused (kernels/graph_rewrites.py), and constant-weight MatMuls put in the conv layout that runs them
    faster (kernels/graph_layout.py), on a copy."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    checks.name_nodes(model)
    checks.zero_size_inputs_as_constants(model)
    return matmul_as_conv(rewrite(_fold_constant_nodes(model)))


def _restore_empty_inputs(plan: Plan, model: onnx.ModelProto, names: list[str]) -> None:
    """Zero-size inputs (made constants by _prepare) back into the plan's inputs, in the model's order:
    the module still takes them as feeds (nothing is copied)."""
    have = dict(plan.inputs)
    types = {vi.name: vi.type.tensor_type for vi in model.graph.input}
    for name in names:
        if name not in have:
            tt = types[name]
            dtype = str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)))
            have[name] = Buffer("arena", 0, tuple(d.dim_value for d in tt.shape.dim), dtype)
    plan.inputs = [(name, have[name]) for name in names]


@contextlib.contextmanager
def _refusing(model: onnx.ModelProto, stage: str):
    """TVM failures inside the block become refusals naming the nodes (ours already name them or a construct)."""
    try:
        yield
    except GraphCompileError as exc:
        if "node " in str(exc):
            raise
        raise GraphCompileError(f"{exc} (from {checks.nodes_for(model, str(exc))})") from None
    except Exception as exc:  # noqa: BLE001 - TVM raises bare internal errors
        raise checks.stage_refusal(model, stage, exc) from None


def lower_model(model: onnx.ModelProto, tick=None, variants: dict | None = None) -> tuple:
    """The front of compile_onnx, shared with the tuner (kernels/tune): (canonical model, memory-planned
    Relax module of fused PrimFuncs, plan, convs legalised to our compute, weight packings)."""
    from .onnx_recurrent import expand_recurrent  # here: it imports GraphCompileError from this module

    convs: dict = {}
    packings = Packings()
    canon = canonicalize(_prepare(expand_recurrent(model)))
    with _refusing(canon, "lowering"):
        mod = lower(canon, convs, tick or (lambda stage: None), packings, variants)
        plan = read_plan(mod, _io_names(canon)[0], _io_names(model)[1], packings)
    return canon, mod, plan, convs, packings


def compile_onnx(
    model: onnx.ModelProto,
    output: str | Path,
    *,
    weights: str = "auto",
    isa: str = "relaxed-simd",
    progress: bool = True,
    deterministic: bool = False,
    tuned: bool = True,
) -> Path:
    """Compile `model` into `output` (.wasm); weights 'embed', 'file' (output + '.weights') or 'auto'.

    `tuned`: convs with a conv-variant record (kernels/tune/conv_records.py) get its variant and kernels with
    a matching trace record (kernels/tune/records.py) its schedule, the others our hand schedules; False:
    hand schedules only.

    `deterministic`: SIMD128 only, no relaxed-SIMD op (their results may differ across CPUs and engines), so
    the module computes the same bits under every wasm engine on every CPU."""
    import tvm
    from tqdm import tqdm

    from .graph_kernels import conv_variants, tuned_conv_keys

    if isa not in ISAS:
        raise ValueError(f"isa must be one of {ISAS}, got {isa!r}")
    if deterministic:
        isa = "simd128"
    if weights not in ("auto", "embed", "file"):
        raise ValueError(f"weights must be 'auto', 'embed' or 'file', got {weights!r}")
    output = Path(output)
    _check_static_inputs(model)
    source_hash = hashlib.sha256(model.SerializeToString()).hexdigest()
    input_names, output_names = _io_names(model)
    started = time.perf_counter()
    with tqdm(total=8, desc=f"compiling {output.name}", unit="stage", disable=not progress) as bar:

        def tick(stage: str) -> None:
            bar.set_postfix_str(stage)
            bar.update()

        variants = conv_variants(isa, tuned)
        canon, mod, plan, convs, packings = lower_model(model, tick, variants)
        _restore_empty_inputs(plan, model, input_names)
        funcs, used, fallbacks, tuned_kernels = schedule_kernels(mod, plan, convs, packings, isa, tuned)
        tick(f"scheduled {len(funcs)} kernels ({len(tuned_kernels)} tuned)")
        mode = weights if weights != "auto" else ("file" if len(plan.weights) > EMBED_LIMIT else "embed")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            objects, llvm_ir = write_objects(canon, mod, funcs, convs, isa, work)
            tick("compiled")
            if mode == "embed":  # #embed reads it; a side file is written once, below
                (work / "weights.bin").write_bytes(plan.weights)
            (work / "graph.c").write_text(c_source(plan, used, "weights.bin" if mode == "embed" else None))
            try:
                module = link_module(work, ["graph.c"], objects, ("-std=c23",))
            except RuntimeError as exc:  # an undefined symbol (libm, compiler-rt) names the nodes that need it
                refusal = checks.link_refusal(canon, str(exc), llvm_ir(), used)
                if refusal is None:
                    raise
                raise refusal from None
        tick("linked")
        weights_hash = hashlib.sha256(plan.weights).hexdigest()
        doc = {
            "inputs": [gf.io_entry(n, b) for n, b in plan.inputs],
            "outputs": [gf.io_entry(n, b) for n, b in plan.outputs],
            "arena_bytes": plan.arena_bytes,
            "weights": {"mode": mode, "bytes": len(plan.weights), "sha256": weights_hash},
            "packed_bytes": plan.packed_bytes,
            "init_steps": [name for name, _ in plan.init_steps],
            "source_sha256": source_hash,
            "isa": isa,
            "deterministic": isa == "simd128",
            "build": {
                "tvm_version": tvm.__version__,
                "target": "wasm32-unknown-unknown-wasm",
                "features": sorted(_features(isa)),
                "seconds": round(time.perf_counter() - started, 1),
            },
            "steps": [name for name, _ in plan.steps],
            "schedule_fallbacks": fallbacks,
            "tuned_kernels": tuned_kernels,
            "tuned_convs": tuned_conv_keys(convs, variants),
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = output.with_suffix(".tmp")
        tmp_out.write_bytes(gf.attach(module, doc))
        if mode == "file":
            gf.write_weights(gf.weights_path(output), plan.weights, weights_hash)
        tmp_out.replace(output)
        tick(f"wrote {output.name}")
    return output


__all__ = ["GraphCompileError", "canonicalize", "compile_onnx"]

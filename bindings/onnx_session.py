"""`wasmops.onnx.InferenceSession`: run an ONNX model op by op on the wasm kernels, onnxruntime-style.

At creation the whole graph is checked: every unsupported operator or attribute is reported at once,
with node names. For each set of input shapes the graph is translated once into a Program (weights
uploaded once, constant subgraphs folded, intermediates placed in one arena by liveness) that runs in a
single host crossing; `run_steps` runs the same program node by node with timings.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ..kernels.limits import run_timeout, time_limit
from ..kernels.plan import Program, StepTiming
from ..kernels.runtime import Runtime, default_runtime
from ..registry import dtypes
from ..registry.table import REGISTRY, UnsupportedError
from .onnx_rewrite import optimize
from .onnx_translate import NeedsFeedValues, Translator, np_dtype
from .session_options import ModelMetadata, NodeArg, OrtSessionApi, SessionOptions, SessionSettings

log = logging.getLogger("wasmops.session")
_MAX_PROGRAMS = 64  # programs kept per session (one per set of input shapes and specialised input values)


def _value_info(vi: onnx.ValueInfoProto) -> NodeArg:
    tt = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    return NodeArg(vi.name, dims, f"tensor({helper.tensor_dtype_to_string(tt.elem_type).split('.')[-1].lower()})")


def _type_problem(vi: onnx.ValueInfoProto) -> str:
    """Why a graph input / output cannot be fed or returned ('' if it can)."""
    kind = vi.type.WhichOneof("value")
    if kind != "tensor_type":
        return f"its type is {kind.replace('_type', '') if kind else 'unknown'}, not a tensor"
    elem = vi.type.tensor_type.elem_type
    name = helper.tensor_dtype_to_string(elem).split(".")[-1].lower()
    try:
        np_name = np.dtype(helper.tensor_dtype_to_np_dtype(elem)).name
    except (KeyError, TypeError, ValueError):
        np_name = name
    return dtypes.refusal(np_name if np_name not in ("object", "void") else name)


class InferenceSession(OrtSessionApi):
    """Run an ONNX model on the op library: ``sess.run(None, {"input": x}) -> [outputs]``.

    onnxruntime's arguments: `sess_options` (wasmops.onnx.SessionOptions: `intra_op_num_threads`,
    `enable_profiling` for per-node timings written by `end_profiling()`); `providers`: the model always runs
    on "WasmExecutionProvider" (the op library's wasm kernels under wasmtime, on the CPU), and
    "CPUExecutionProvider" is taken to mean it; other names are skipped with onnxruntime's warning.
    `runtime`: the op library instance to run on (default: the process's). `max_memory` (bytes) or
    `time_limits=True` give the session its own runtime: its linear memory may not grow past max_memory
    (MemoryError instead); with time limits its runs take ``run_options={"timeout": s}``.
    """

    def __init__(
        self,
        model: str | Path | bytes | onnx.ModelProto,
        sess_options: SessionOptions | None = None,
        providers=None,
        provider_options=None,
        *,
        runtime: Runtime | None = None,
        max_memory: int | None = None,
        time_limits: bool | None = None,
    ):
        self._settings = SessionSettings(sess_options, providers, provider_options)
        if isinstance(model, str | Path):
            model = onnx.load(str(model))
        elif isinstance(model, bytes):
            model = onnx.load_from_string(model)
        self.model = model
        own = max_memory is not None or time_limits is not None
        if own and runtime is not None:
            raise ValueError("give either a runtime or max_memory / time_limits (they create the session's runtime)")
        self.runtime = runtime or (
            Runtime(max_memory=max_memory, time_limits=time_limits) if own else default_runtime()
        )
        self._translator = Translator(optimize(model))  # BN folded into convs, hard-swish fused, ... (onnx_rewrite)
        self.opset = self._translator.opset
        self._inputs, self._outputs = self._translator.inputs, self._translator.outputs
        self._check_supported()
        self._programs: OrderedDict[tuple, Program] = OrderedDict()
        #: inputs used as attributes (axes, shape, k, an If condition, ...): programs specialise on their values
        self._by_value: set[str] = set()
        static = all(isinstance(d, int) and d > 0 for vi in self._inputs for d in _value_info(vi).shape)
        if static:  # shapes known: translate now, so attribute problems surface at creation too
            shapes = {vi.name: tuple(_value_info(vi).shape) for vi in self._inputs}
            try:
                self._translate(shapes, {})
            except NeedsFeedValues:
                pass  # the program depends on input values: it is translated at the first run

    # ---- onnxruntime-style introspection -----------------------------------------------------------
    def get_inputs(self) -> list[NodeArg]:
        return [_value_info(vi) for vi in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [_value_info(vi) for vi in self._outputs]

    def get_modelmeta(self) -> ModelMetadata:
        """The model's metadata, as onnxruntime reads it from the ModelProto."""
        m = self.model
        return ModelMetadata(
            producer_name=m.producer_name,
            graph_name=m.graph.name,
            domain=m.domain,
            description=m.doc_string,
            graph_description=m.graph.doc_string,
            version=m.model_version,
            custom_metadata_map={p.key: p.value for p in m.metadata_props},
        )

    def _check_supported(self) -> None:
        problems = []
        for kind, vis in (("input", self._inputs), ("output", self._outputs)):
            for vi in vis:
                why = _type_problem(vi)
                if why:
                    problems.append(f"graph {kind} {vi.name!r}: {why}")
        self._check_nodes(self.model.graph, problems)
        if problems:
            raise UnsupportedError(f"{len(problems)} unsupported node(s) in the model:\n  " + "\n  ".join(problems))

    def _check_nodes(self, graph: onnx.GraphProto, problems: list[str]) -> None:
        for i, node in enumerate(graph.node):
            where = f"node {node.name or i!r} ({node.op_type})"
            if node.domain not in ("", "ai.onnx"):
                problems.append(f"{where}: domain {node.domain!r} is not supported")
                continue
            entry = REGISTRY.lookup("onnx", node.op_type, self.opset)
            if entry is None:
                problems.append(f"{where}: operator {node.op_type} (opset {self.opset}) is not supported")
                continue
            unknown = sorted({a.name for a in node.attribute} - entry.attrs)
            if unknown:
                problems.append(f"{where}: unsupported attribute(s) {', '.join(unknown)}")
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    self._check_nodes(attr.g, problems)

    # ---- translation ----------------------------------------------------------------------------------
    def _key(self, arrays: dict[str, np.ndarray]) -> tuple:
        shapes = tuple(arrays[vi.name].shape for vi in self._inputs)
        values = tuple(arrays[n].tobytes() for n in sorted(self._by_value))
        return shapes, values

    def _program(self, arrays: dict[str, np.ndarray]) -> Program:
        """The program for these feeds' shapes (and the values of inputs used as attributes), built once."""
        while True:
            key = self._key(arrays)
            program = self._programs.get(key)
            if program is not None:
                self._programs.move_to_end(key)
                return program
            shapes = {name: arr.shape for name, arr in arrays.items()}
            try:
                program = self._translate(shapes, {n: arrays[n] for n in self._by_value})
            except NeedsFeedValues as need:
                self._by_value |= need.names  # specialise on them too, and translate again
                continue
            self._programs[key] = program
            log.info("translated the model for input shapes %s: %d kernel steps", shapes, len(program.steps))
            if len(self._programs) > _MAX_PROGRAMS:
                self._programs.popitem(last=False)[1].close()
            return program

    def _translate(self, shapes: dict[str, tuple[int, ...]], known: dict[str, np.ndarray]) -> Program:
        g, feeds, values, _ = self._translator.translate(shapes, known)
        outputs = dict(zip((vi.name for vi in self._outputs), self._translator.output_values(values), strict=True))
        with self.runtime.lock:
            return Program(self.runtime, g.steps, feeds, outputs)

    # ---- running ---------------------------------------------------------------------------------------
    def _prepare(self, output_names, feeds: dict) -> tuple[Program, dict[str, np.ndarray], list[str]]:
        expected = {vi.name: vi for vi in self._inputs}
        missing, unknown = sorted(set(expected) - set(feeds)), sorted(set(feeds) - set(expected))
        if missing or unknown:
            raise ValueError(
                f"feeds must be exactly the model inputs {self._describe()}; missing {missing}, unexpected {unknown}"
            )
        arrays = {}
        for name, vi in expected.items():
            arr = np.asarray(feeds[name])
            info, want = _value_info(vi), np_dtype(vi)
            if arr.dtype != want:
                raise TypeError(f"input {name!r} has dtype {arr.dtype}; the model expects {info.type}")
            if len(arr.shape) != len(info.shape) or any(
                isinstance(d, int) and d > 0 and d != s for d, s in zip(info.shape, arr.shape, strict=True)
            ):
                raise ValueError(f"input {name!r} has shape {arr.shape}; the model expects {info.shape}")
            arrays[name] = arr
        names = [vi.name for vi in self._outputs] if output_names is None else list(output_names)
        bad = sorted(set(names) - {vi.name for vi in self._outputs})
        if bad:
            raise ValueError(f"unknown output(s) {bad}; the model outputs are {[vi.name for vi in self._outputs]}")
        program = self._program(arrays)
        # in the dtype each computes in (int64 narrowed with a range check); 0-d stays 0-d
        computed = {n: np.asarray(dtypes.to_compute(arrays[n], f"input {n!r}"), order="C") for n in program.inputs}
        return program, computed, names

    def _describe(self) -> str:
        return ", ".join(f"{a.name}: {a.type}{a.shape}" for a in self.get_inputs())

    def _outputs_as_declared(self, results: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        declared = {vi.name: np_dtype(vi) for vi in self._outputs}
        return [np.asarray(results[n]).astype(declared[n], copy=False) for n in names]

    def run(
        self, output_names: list[str] | None, input_feed: dict[str, np.ndarray], run_options=None
    ) -> list[np.ndarray]:
        """All nodes in one call into wasm (the plan runner; node by node when profiling). Returns the outputs
        in `output_names` order.

        ``run_options={"timeout": seconds}``: past it the run is interrupted and raises TimeoutError naming
        the node (the session stays usable); default `wasmops.set_timeout`."""
        timeout = run_timeout(run_options)
        if self._settings.profiling:
            started = time.time_ns()
            with time_limit(timeout):
                outputs, timings = self.run_steps(output_names, input_feed)
            self._settings.record_run(started, [(t.label, t.kernel, t.seconds) for t in timings])
            return outputs
        program, arrays, names = self._prepare(output_names, input_feed)
        with self.runtime.lock, self._settings.threads(), time_limit(timeout):
            results = program.run(arrays)
        return self._outputs_as_declared(results, names)

    def run_steps(
        self, output_names: list[str] | None, input_feed: dict[str, np.ndarray], keep_outputs: bool = False
    ) -> tuple[list[np.ndarray], list[StepTiming]]:
        """Node by node (one host call per kernel), with per-step timings: for debugging and profiling."""
        program, arrays, names = self._prepare(output_names, input_feed)
        with self.runtime.lock, self._settings.threads():
            results, timings = program.run_steps(arrays, keep_outputs)
        return self._outputs_as_declared(results, names), timings

    def export_program(self, path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Path:
        """Write the program this session runs for `input_shapes` (default: the model's static shapes) to
        `path`, for the JS loader (`bindings/js/program.mjs`) to run on the op library with bitwise the
        same results. A program that reads input values on the host is refused naming the node."""
        from .program_export import export_program

        return export_program(self, path, input_shapes)

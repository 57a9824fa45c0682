"""`wasmops.onnx.InferenceSession`: run an ONNX model op by op on the wasm kernels, onnxruntime-style.

At creation the whole graph is checked: every unsupported operator or attribute is reported at once,
with node names. For each set of input shapes the graph is translated once into a Program (weights
uploaded once, constant subgraphs folded, intermediates placed in one arena by liveness) that runs in a
single host crossing; `run_steps` runs the same program node by node with timings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..kernels.plan import Program, StepTiming
from ..kernels.runtime import Runtime, default_runtime
from ..ops.spec import TensorRef
from ..registry import onnx_all  # noqa: F401 - registers every translator module
from ..registry.graph import GraphBuilder
from ..registry.table import REGISTRY, UnsupportedError

#: index tensors are computed in int32 inside wasm (wasm32 addresses); int64 feeds are narrowed on entry
_NARROW = {np.dtype("int64"): np.dtype("int32")}


@dataclass(frozen=True)
class NodeArg:
    """An input or output of the model, as onnxruntime describes it."""

    name: str
    shape: list[int | str | None]
    type: str


def _value_info(vi: onnx.ValueInfoProto) -> NodeArg:
    tt = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    return NodeArg(vi.name, dims, f"tensor({helper.tensor_dtype_to_string(tt.elem_type).split('.')[-1].lower()})")


def _np_dtype(vi: onnx.ValueInfoProto) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type))


class InferenceSession:
    """Run an ONNX model on the op library: ``sess.run(None, {"input": x}) -> [outputs]``."""

    def __init__(self, model: str | Path | bytes | onnx.ModelProto, runtime: Runtime | None = None):
        if isinstance(model, str | Path):
            model = onnx.load(str(model))
        elif isinstance(model, bytes):
            model = onnx.load_from_string(model)
        self.model = model
        self.runtime = runtime or default_runtime()
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        graph = model.graph
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self._inputs = [vi for vi in graph.input if vi.name not in self.constants]
        self._outputs = list(graph.output)
        self._check_supported()
        self._programs: dict[tuple, Program] = {}
        static = all(isinstance(d, int) and d > 0 for vi in self._inputs for d in _value_info(vi).shape)
        if static:  # shapes known: translate now, so attribute problems surface at creation too
            self._program(tuple(tuple(_value_info(vi).shape) for vi in self._inputs))

    # ---- onnxruntime-style introspection -----------------------------------------------------------
    def get_inputs(self) -> list[NodeArg]:
        return [_value_info(vi) for vi in self._inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [_value_info(vi) for vi in self._outputs]

    def _check_supported(self) -> None:
        problems = []
        for i, node in enumerate(self.model.graph.node):
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
        if problems:
            raise UnsupportedError(f"{len(problems)} unsupported node(s) in the model:\n  " + "\n  ".join(problems))

    # ---- translation ----------------------------------------------------------------------------------
    def _program(self, shapes: tuple[tuple[int, ...], ...]) -> Program:
        program = self._programs.get(shapes)
        if program is not None:
            return program
        g = GraphBuilder()
        values: dict[str, object] = dict(self.constants)
        feeds = {}
        for vi, shape in zip(self._inputs, shapes, strict=True):
            dtype = _np_dtype(vi)
            feeds[vi.name] = values[vi.name] = TensorRef(shape, _NARROW.get(dtype, dtype))
        for i, node in enumerate(self.model.graph.node):
            g.label = f"node {node.name or i!r} ({node.op_type})"
            g.num_outputs = len(node.output)
            entry = REGISTRY.lookup("onnx", node.op_type, self.opset)
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            args = [values[name] if name else None for name in node.input]
            while args and args[-1] is None:
                args.pop()
            try:
                out = entry.translate(g, attrs, *args)
            except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
                raise UnsupportedError(f"{g.label}: {exc}") from None
            outs = out if isinstance(out, list) else [out]
            for name, value in zip(node.output, outs, strict=False):
                if name:
                    values[name] = value
        outputs = {vi.name: values[vi.name] for vi in self._outputs}
        with self.runtime.lock:
            program = Program(self.runtime, g.steps, feeds, outputs)
        self._programs[shapes] = program
        return program

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
            info, want = _value_info(vi), _np_dtype(vi)
            if arr.dtype != want:
                raise TypeError(f"input {name!r} has dtype {arr.dtype}; the model expects {info.type}")
            if len(arr.shape) != len(info.shape) or any(
                isinstance(d, int) and d > 0 and d != s for d, s in zip(info.shape, arr.shape, strict=True)
            ):
                raise ValueError(f"input {name!r} has shape {arr.shape}; the model expects {info.shape}")
            arrays[name] = np.asarray(arr, _NARROW.get(arr.dtype, arr.dtype), order="C")  # 0-d stays 0-d
        names = [vi.name for vi in self._outputs] if output_names is None else list(output_names)
        bad = sorted(set(names) - {vi.name for vi in self._outputs})
        if bad:
            raise ValueError(f"unknown output(s) {bad}; the model outputs are {[vi.name for vi in self._outputs]}")
        program = self._program(tuple(arrays[vi.name].shape for vi in self._inputs))
        return program, arrays, names

    def _describe(self) -> str:
        return ", ".join(f"{a.name}: {a.type}{a.shape}" for a in self.get_inputs())

    def _outputs_as_declared(self, results: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        declared = {vi.name: _np_dtype(vi) for vi in self._outputs}
        return [results[n].astype(declared[n], copy=False) for n in names]

    def run(
        self, output_names: list[str] | None, input_feed: dict[str, np.ndarray], run_options=None
    ) -> list[np.ndarray]:
        """All nodes in one call into wasm (the plan runner). Returns the outputs in `output_names` order."""
        program, arrays, names = self._prepare(output_names, input_feed)
        with self.runtime.lock:
            results = program.run(arrays)
        return self._outputs_as_declared(results, names)

    def run_steps(
        self, output_names: list[str] | None, input_feed: dict[str, np.ndarray], keep_outputs: bool = False
    ) -> tuple[list[np.ndarray], list[StepTiming]]:
        """Node by node (one host call per kernel), with per-step timings: for debugging and profiling."""
        program, arrays, names = self._prepare(output_names, input_feed)
        with self.runtime.lock:
            results, timings = program.run_steps(arrays, keep_outputs)
        return self._outputs_as_declared(results, names), timings

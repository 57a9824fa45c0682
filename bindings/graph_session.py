"""Prebuilt whole graphs: `compile_graph` turns a model into one `.wasm`; `InferenceSession` runs it.

The session has the op-by-op session's (and onnxruntime's) idiom: `get_inputs()`, `get_outputs()`,
`run(output_names, feeds)`, `providers=`, `sess_options=`, `get_modelmeta()`. Feeds are checked against the
module's manifest before anything runs, and a wrong name, shape or dtype gets an error listing what the
model expects. Running needs only numpy and wasmtime (no onnx, no TVM): the runtime-only install runs it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..kernels.graph_runtime import GraphModule
from ..kernels.limits import run_timeout, time_limit
from .session_options import ModelMetadata, NodeArg, OrtSessionApi, SessionOptions, SessionSettings

log = logging.getLogger("wasmops.graph")

_ONNX_TYPES = {"float32": "float", "float64": "double", "int64": "int64", "int32": "int32", "bool": "bool"}


def _node_arg(entry: dict) -> NodeArg:
    return NodeArg(entry["name"], list(entry["shape"]), f"tensor({_ONNX_TYPES.get(entry['dtype'], entry['dtype'])})")


class InferenceSession(OrtSessionApi):
    """Run a model compiled by `wasmops compile`: ``sess.run(None, {"input": x}) -> [outputs]``.

    `sess_options` (wasmops.graph.SessionOptions, onnxruntime's names): `intra_op_num_threads`,
    `enable_profiling` (per-kernel timings, `end_profiling()` writes them). `providers`: onnxruntime's
    argument; the model always runs on "WasmExecutionProvider" (the wasm kernels under wasmtime, on the CPU),
    and "CPUExecutionProvider" is taken to mean it. `weights`: the side weight file, if not next to the module.
    `max_memory`: the most linear memory (bytes) the module may use (default: `wasmops.set_memory_limit`);
    past it a run raises MemoryError. `time_limits=True` builds it so runs can be given a time limit
    (default: whether `wasmops.set_timeout` / $WASMOPS_TIME_LIMITS is set); the checks cost kernel speed."""

    def __init__(
        self,
        path: str | Path,
        sess_options: SessionOptions | None = None,
        providers=None,
        provider_options=None,
        *,
        weights: str | Path | None = None,
        max_memory: int | None = None,
        time_limits: bool | None = None,
    ):
        if isinstance(sess_options, str | Path) and weights is None:
            raise TypeError("the second argument is sess_options; pass a weight file as weights=...")
        self._settings = SessionSettings(sess_options, providers, provider_options)
        self.module = GraphModule(path, weights, max_memory, time_limits)
        self.manifest = self.module.manifest
        log.info("loaded compiled graph %s (%d steps)", self.module.path, len(self.manifest["steps"]))

    def get_modelmeta(self) -> ModelMetadata:
        """What the compiled module records: no ONNX metadata survives compilation, the build facts do."""
        doc = self.manifest
        custom = {
            "source_sha256": doc["source_sha256"],
            "isa": doc["isa"],
            "tvm_version": doc["build"]["tvm_version"],
            "weights": doc["weights"]["mode"],
            "arena_bytes": str(doc["arena_bytes"]),
        }
        return ModelMetadata(
            producer_name="wasmops compile",
            graph_name=self.module.path.stem,
            description=f"whole graph compiled from the ONNX model with sha256 {doc['source_sha256']}",
            custom_metadata_map=custom,
        )

    def get_inputs(self) -> list[NodeArg]:
        return [_node_arg(e) for e in self.module.inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [_node_arg(e) for e in self.module.outputs]

    def _describe(self) -> str:
        return ", ".join(f"{a.name}: {a.type}{a.shape}" for a in self.get_inputs())

    def run(
        self, output_names: list[str] | None, input_feed: dict[str, np.ndarray], run_options=None
    ) -> list[np.ndarray]:
        """The whole graph in one call into wasm (node by node when profiling). Outputs in `output_names` order.

        ``run_options={"timeout": seconds}`` (a session created with time_limits): past it the run is
        interrupted and raises TimeoutError (the session stays usable); default `wasmops.set_timeout`."""
        with time_limit(run_timeout(run_options)):
            if self._settings.profiling:
                started, timings = time.time_ns(), []
                outputs = self._run(output_names, input_feed, timings)
                self._settings.record_run(started, [(name, name, seconds) for name, seconds in timings])
                return outputs
            return self._run(output_names, input_feed, None)

    def run_steps(
        self, output_names: list[str] | None, input_feed: dict[str, np.ndarray]
    ) -> tuple[list[np.ndarray], list[tuple[str, float]]]:
        """One host call per fused kernel, with (kernel, seconds) timings: for profiling."""
        timings: list[tuple[str, float]] = []
        return self._run(output_names, input_feed, timings), timings

    def _run(self, output_names, input_feed, timings: list | None) -> list[np.ndarray]:
        expected = {e["name"]: e for e in self.module.inputs}
        missing, unknown = sorted(set(expected) - set(input_feed)), sorted(set(input_feed) - set(expected))
        if missing or unknown:
            raise ValueError(
                f"feeds must be exactly the model inputs {self._describe()}; missing {missing}, unexpected {unknown}"
            )
        arrays = []
        for name, entry in expected.items():
            arr = np.asarray(input_feed[name])
            if arr.dtype != np.dtype(entry["dtype"]):
                raise TypeError(f"input {name!r} has dtype {arr.dtype}; the model expects {_node_arg(entry).type}")
            if arr.shape != tuple(entry["shape"]):
                raise ValueError(
                    f"input {name!r} has shape {arr.shape}; the model was compiled for {tuple(entry['shape'])}"
                )
            arrays.append(arr)
        outputs = [e["name"] for e in self.module.outputs]
        names = outputs if output_names is None else list(output_names)
        bad = sorted(set(names) - set(outputs))
        if bad:
            raise ValueError(f"unknown output(s) {bad}; the model outputs are {outputs}")
        with self._settings.threads():
            results = dict(zip(outputs, self.module.run(arrays, timings), strict=True))
        return [results[n] for n in names]


def onnx_model(model, sample_input=None):
    """`model` as an onnx.ModelProto: an ONNX file path, serialized bytes, a ModelProto, or a MindSpore Cell
    (exported to ONNX by MindSpore, traced on `sample_input`)."""
    import onnx

    if isinstance(model, str | Path):
        return onnx.load(str(model))
    if isinstance(model, bytes):
        return onnx.load_from_string(model)
    if isinstance(model, onnx.ModelProto):
        return model
    if type(model).__module__.startswith("mindspore") or hasattr(model, "construct"):
        if sample_input is None:
            raise ValueError("compiling a MindSpore network needs sample_input (its export traces the network)")
        from .mindspore_convert import export_onnx

        return export_onnx(model, sample_input)
    raise TypeError(f"model must be an ONNX path, bytes, ModelProto or MindSpore Cell, got {type(model).__name__}")


def compile_graph(
    model,
    output_path: str | Path,
    *,
    sample_input=None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    input_values: dict[str, np.ndarray] | None = None,
    weights: str = "auto",
    isa: str | None = None,
    progress: bool = True,
    deterministic: bool = False,
    tuned: bool = True,
) -> Path:
    """Compile a model into one self-contained .wasm (see kernels/graph_compiler.py).

    `model`: an ONNX file path, serialized bytes or ModelProto, or a MindSpore Cell (exported to ONNX by
    MindSpore, traced on `sample_input`). `weights`: 'embed' in the module, 'file' (a `.weights` side file
    next to it) or 'auto' (a side file above 256 MiB). `isa`: 'relaxed-simd' (FMA, the default) or 'simd128'.
    `deterministic=True`: SIMD128 only (no relaxed-SIMD FMA, whose rounding differs across CPUs and engines):
    the module gives the same bits under wasmtime, V8 and any CPU; `isa='relaxed-simd'` with it is refused.
    `input_shapes`: the size of every symbolic input dim, e.g. ``{"x": (1, 3, 736, 736)}``: a module serves one
    shape per input (its memory plan and kernels are specialised to it), so a model with symbolic dims is
    compiled once per shape you need. `input_values`: inputs frozen to a value (a sample rate, a mode flag); the
    module no longer takes them. Shape arithmetic is folded and Ifs on known conditions inlined for those.
    `tuned`: kernels with a tuning record (`wasmops tune`, or shipped) get its schedule; False: hand schedules.
    """

    from ..kernels.graph_compiler import compile_onnx

    if deterministic and isa not in (None, "simd128"):
        raise ValueError(f"deterministic=True builds SIMD128 only (relaxed-SIMD results vary by CPU); got isa={isa!r}")
    isa = isa or ("simd128" if deterministic else "relaxed-simd")
    proto = onnx_model(model, sample_input)
    from ..registry.dtypes import DtypeError
    from .graph_static import specialise

    try:
        proto = specialise(proto, input_shapes, input_values)
    except DtypeError:
        # the op-by-op translator that folds shapes does not read every dtype a whole graph computes (float64)
        # or refuses (strings): a model with static inputs compiles as it is, and the compiler refuses by name
        if input_shapes or input_values:
            raise
    return compile_onnx(
        proto, output_path, weights=weights, isa=isa, progress=progress, deterministic=deterministic, tuned=tuned
    )


def compiled_path(model, directory: str | Path, name: str, **kwargs) -> Path:
    """Where `compiled_graph` keeps `model`'s build: the name plus a hash of the model, the compiler's
    sources, the tuning records and the options (a changed compiler or new records give a new path)."""
    import hashlib

    import onnx

    from ..kernels import graph_compiler
    from ..kernels.tune import records

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    key = hashlib.sha256(proto.SerializeToString())
    for source in graph_compiler.sources():
        key.update(source.read_bytes())
    key.update(records.digest().encode())  # new or changed tuning records give a new build
    key.update(repr(sorted(kwargs.items())).encode())
    return Path(directory) / f"{name}-{key.hexdigest()[:16]}.wasm"


def compiled_graph(model, directory: str | Path, name: str, **kwargs) -> Path:
    """`model` compiled into `directory`, reused while the model and the compiler's sources are unchanged
    (the demo and the benchmarks compile ResNet-50 once per machine, not once per run)."""
    import onnx

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    path = compiled_path(proto, directory, name, **kwargs)
    if path.exists():
        log.info("compiled graph cache hit: %s", path)
    else:
        log.info("compiling %s into %s (not cached yet)", name, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        compile_graph(proto, path, **kwargs)
        for stale in path.parent.glob(f"{name}-????????????????.*"):
            if stale.stem != path.stem:  # an older build of this model (a changed compiler or options)
                stale.unlink(missing_ok=True)
    return path


__all__ = ["InferenceSession", "compile_graph", "compiled_graph", "compiled_path"]

"""onnxruntime's session vocabulary, shared by the op-by-op and the whole-graph session.

`NodeArg`, `SessionOptions`, `ModelMetadata`, `providers=` and profiling mean what they mean in
onnxruntime, so code written for `onnxruntime.InferenceSession` carries over. Needs only numpy: a compiled
graph runs from the runtime-only install (numpy + wasmtime), which has no `onnx` package.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..kernels.instances import MAX_THREADS, thread_limit

log = logging.getLogger("wasmops.session")

#: The one execution provider: the wasm kernels, run by wasmtime on this machine's CPU.
WASM_PROVIDER = "WasmExecutionProvider"
#: Names accepted for it. "CPUExecutionProvider" is onnxruntime's default and means the same thing here:
#: the model runs on the CPU (as wasm); "wasm" is onnxruntime-web's name for its WebAssembly backend.
_SYNONYMS = {WASM_PROVIDER, "CPUExecutionProvider", "wasm"}


@dataclass(frozen=True)
class NodeArg:
    """An input or output of the model, as onnxruntime describes it."""

    name: str
    shape: list[int | str | None]
    type: str


@dataclass(frozen=True)
class ModelMetadata:
    """`sess.get_modelmeta()`: onnxruntime's ModelMetadata fields."""

    producer_name: str = ""
    graph_name: str = ""
    domain: str = ""
    description: str = ""
    graph_description: str = ""
    version: int = 0
    custom_metadata_map: dict[str, str] = field(default_factory=dict)


def get_available_providers() -> list[str]:
    """Like `onnxruntime.get_available_providers()`: the provider names a session accepts."""
    return [WASM_PROVIDER, "CPUExecutionProvider"]


def check_providers(providers: Sequence | None, provider_options: Sequence | None = None) -> list[str]:
    """onnxruntime's `providers=` rules: a sequence of names or (name, options) pairs; a name this build
    does not have is skipped with onnxruntime's warning. Whatever is asked, the wasm kernels run."""
    if providers is None:
        return [WASM_PROVIDER]
    if isinstance(providers, str) or not isinstance(providers, Sequence):
        raise ValueError("'providers' should be a sequence.")
    if provider_options is not None and len(provider_options) != len(providers):
        raise ValueError("'providers' and 'provider_options' should be the same length if both are given.")
    for item in providers:
        name = item[0] if isinstance(item, tuple) else item
        if not isinstance(name, str):
            raise ValueError(f"Only string values for 'providers' are supported, got {name!r}.")
        if name not in _SYNONYMS:
            message = (
                f"Specified provider '{name}' is not in available provider names."
                f"Available providers: '{', '.join(get_available_providers())}'"
            )
            warnings.warn(message, stacklevel=3)
    return [WASM_PROVIDER]


class SessionOptions:
    """onnxruntime's SessionOptions, the settings that have a meaning here.

    - `intra_op_num_threads`: threads each kernel uses for this session's runs (0: the process default,
      `wasmops.get_num_threads()`).
    - `inter_op_num_threads`: accepted; nodes run one after another (kernels are parallel inside).
    - `enable_profiling`: every `run` records per-node timings (it then runs node by node);
      `sess.end_profiling()` writes them as onnxruntime's JSON trace `<profile_file_prefix><date>.json`.
    - `log_severity_level` and `graph_optimization_level` are accepted and change nothing: wasmops logs
      through the standard `logging` module (logger "wasmops", or $WASMOPS_LOG), and graphs are
      optimised the one way there is.
    Any other attribute raises AttributeError, naming these.
    """

    _FIELDS = (
        "intra_op_num_threads",
        "inter_op_num_threads",
        "enable_profiling",
        "profile_file_prefix",
        "log_severity_level",
        "graph_optimization_level",
    )

    def __init__(self) -> None:
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.enable_profiling = False
        self.profile_file_prefix = "wasmops_profile_"
        self.log_severity_level = 2
        self.graph_optimization_level = None

    def __setattr__(self, name: str, value) -> None:
        if name not in self._FIELDS:
            raise AttributeError(f"SessionOptions has no option {name!r}; wasmops supports {', '.join(self._FIELDS)}")
        if name == "intra_op_num_threads" and not (isinstance(value, int) and 0 <= value <= MAX_THREADS):
            raise ValueError(f"intra_op_num_threads must be an int in [0, {MAX_THREADS}], got {value!r}")
        object.__setattr__(self, name, value)


class SessionSettings:
    """What a session does with its options: thread count per run, profiling, providers."""

    def __init__(self, sess_options: SessionOptions | None, providers, provider_options) -> None:
        if sess_options is not None and not isinstance(sess_options, SessionOptions):
            raise TypeError(
                f"sess_options must be a wasmops SessionOptions (wasmops.onnx.SessionOptions), "
                f"got {type(sess_options).__module__}.{type(sess_options).__name__}"
            )
        self.options = sess_options or SessionOptions()
        self.providers = check_providers(providers, provider_options)
        self.profiling = bool(self.options.enable_profiling)
        self.start_ns = time.time_ns()
        self.events: list[dict] = []

    @contextlib.contextmanager
    def threads(self) -> Iterator[None]:
        """This session's thread count for the duration of one run (this thread only)."""
        with thread_limit(self.options.intra_op_num_threads or None):
            yield

    def record_run(self, started_ns: int, steps: list[tuple[str, str, float]]) -> None:
        """One profiled run: (node name, op, seconds) per step, as onnxruntime's "Node" events."""
        t = (started_ns - self.start_ns) // 1000
        total = 0
        for name, op, seconds in steps:
            dur = round(seconds * 1e6)
            self.events.append(_event("Node", f"{name}_kernel_time", t, dur, {"op_name": op}))
            t += dur
            total += dur
        self.events.append(_event("Session", "model_run", (started_ns - self.start_ns) // 1000, total, {}))

    def end_profiling(self) -> str:
        """Write the recorded events (onnxruntime's JSON trace format); the file name, or '' if not profiling."""
        if not self.profiling:
            return ""
        path = f"{self.options.profile_file_prefix}{time.strftime('%Y-%m-%d_%H-%M-%S')}.json"
        with open(path, "w") as f:
            json.dump(self.events, f)
        log.info("wrote profile %s (%d events)", path, len(self.events))
        self.events = []
        self.profiling = False
        return path


def _event(cat: str, name: str, ts: int, dur: int, args: dict) -> dict:
    return {"cat": cat, "pid": os.getpid(), "tid": 0, "dur": dur, "ts": ts, "ph": "X", "name": name, "args": args}


__all__ = [
    "WASM_PROVIDER",
    "ModelMetadata",
    "NodeArg",
    "SessionOptions",
    "SessionSettings",
    "check_providers",
    "get_available_providers",
]


class OrtSessionApi:
    """onnxruntime's session methods that read a session's settings, shared by both session kinds."""

    _settings: SessionSettings

    def get_providers(self) -> list[str]:
        return list(self._settings.providers)

    def get_provider_options(self) -> dict[str, dict]:
        return {p: {} for p in self._settings.providers}

    def get_session_options(self) -> SessionOptions:
        return self._settings.options

    def end_profiling(self) -> str:
        """onnxruntime's: write the profile of every run since creation; its file name ('' if not profiling)."""
        return self._settings.end_profiling()

    def get_profiling_start_time_ns(self) -> int:
        return self._settings.start_ns

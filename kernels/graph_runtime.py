"""Load a compiled whole-graph module with wasmtime and run it: copy inputs in, one call, copy outputs out.

Needs only wasmtime and numpy. The module is checked before it runs: its manifest's content hash (a
truncated or edited file is refused), and for side-file weights the file's hash against the one the
module was compiled with. A failing kernel or a trap becomes an exception naming the step; the instance
stays usable.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
import weakref
from pathlib import Path

import numpy as np
import wasmtime

from . import graph_format as gf
from .limits import get_timeout, time_limits_default
from .manifest import LibraryError
from .runtime import WORKER_TRAPPED, Instances, KernelError, WasmTrap, c_string, get_num_threads

_WASMTIME_VERSION = importlib.metadata.version("wasmtime")


#: the message of a graph's index checks (kernels/graph_index_checks.py MESSAGE; that module imports TVM)
INDEX_MESSAGE = "index out of range"


class GraphIndexError(KernelError, IndexError):
    """An index of a Gather / Scatter step outside its tensor: the step, the op and the valid range."""


class GraphModule:
    """One instance of a compiled graph (plus its worker pool). Not thread-safe: one run at a time."""

    def __init__(
        self,
        path: str | Path,
        weights: str | Path | None = None,
        max_memory: int | None = None,
        time_limits: bool | None = None,
    ):
        self.path = Path(path)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"no compiled model at {self.path}: run `wasmops compile` first") from None
        self.manifest = doc = gf.read(data)
        key = f"graph-{doc['content_hash'][:32]}-{doc['isa']}-wasmtime{_WASMTIME_VERSION}"
        self.instances = inst = Instances(
            data,
            doc["isa"],
            key,
            self.path.name,
            max_memory,
            time_limits_default() if time_limits is None else time_limits,
        )
        self.store, ex = inst.store, inst.exports
        weakref.finalize(self, inst.stop)  # the workers hold the pool, not this object
        self._run, self._run_steps = ex["wasmops_graph_run"], ex["wasmops_graph_run_steps"]
        self._failed_step, self._last_error = ex["wasmops_failed_step"], ex["wasmops_last_error"]
        self._first = 0  # the first step of the current call (step numbers in errors are absolute)
        self._names = doc["steps"]  # the step list an error's step number indexes
        self.inputs, self.outputs = doc["inputs"], doc["outputs"]
        io = ex["wasmops_graph_io"]
        self._addresses = [io(self.store, i) for i in range(len(self.inputs) + len(self.outputs))]
        winfo = doc["weights"]
        if winfo["mode"] == "file":
            payload = gf.read_weights(
                Path(weights) if weights else gf.weights_path(self.path), winfo["sha256"], winfo["bytes"]
            )
            at = ex["wasmops_graph_weights"](self.store)
            self._view()[at : at + len(payload)] = np.frombuffer(payload, np.uint8)
        elif weights is not None:
            raise LibraryError(f"{self.path.name} embeds its weights; it takes no weight file")
        if doc.get("init_steps"):  # the weights ship in their source layout: pack them once, now
            self._names = doc["init_steps"]
            try:
                if self.instances.threads != get_num_threads():
                    self.instances.sync_threads()
                self._checked(ex["wasmops_graph_init"])
            finally:
                self._names = doc["steps"]

    def _view(self) -> np.ndarray:
        return self.instances.view()

    def run(self, arrays: list[np.ndarray], timings: list | None = None) -> list[np.ndarray]:
        """Inputs in manifest order (already checked by the caller) -> outputs in manifest order.

        With `timings` (a list), the steps run one host call each and (step name, seconds) pairs are
        appended: for profiling; a plain run is one call for the whole graph."""
        mem = self._view()
        for arr, at in zip(arrays, self._addresses, strict=False):
            flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
            mem[at : at + flat.size] = flat
        if timings is None:
            self._call(self._run)
        else:
            try:
                for i, name in enumerate(self.manifest["steps"]):
                    self._first = i
                    t0 = time.perf_counter()
                    self._call(self._run_steps, i, 1)
                    timings.append((name, time.perf_counter() - t0))
            finally:
                self._first = 0
        mem = self._view()
        results = []
        for out, at in zip(self.outputs, self._addresses[len(self.inputs) :], strict=True):
            dtype = np.dtype(out["dtype"])
            count = math.prod(out["shape"])
            results.append(np.frombuffer(mem, dtype, count, at).reshape(out["shape"]).copy())
        return results

    def _call(self, func, *args) -> None:
        if self.instances.threads != get_num_threads():
            self.instances.sync_threads()
        timeout = get_timeout()
        if timeout is None:
            return self._checked(func, *args)
        token = self.instances.start_timed(timeout, self.path.name)
        try:
            self._checked(func, *args)
        except KernelError:
            if self.instances.end_timed(token):
                where = self._step_name()  # "step -1": interrupted before the first step started
                where = self.path.name if where.startswith("step -") else f"{self.path.name} {where}"
                raise TimeoutError(f"{where}: interrupted after its time limit of {timeout:g} s") from None
            raise
        self.instances.end_timed(token)

    def _checked(self, func, *args) -> None:
        try:
            rc = func(self.store, *args)
        except wasmtime.Trap as exc:
            self.instances.recover()
            raise WasmTrap(f"{self._step_name()}: wasm trap: {str(exc).splitlines()[0]}") from None
        if rc:
            self.instances.clear_deadline()  # a timed call's deadline may have passed: the calls below run
        if rc == WORKER_TRAPPED:
            raise WasmTrap(f"{self._step_name()}: wasm trap in a worker thread: {self.instances.worker_trap}")
        if rc != 0:
            error = self._error() or f"kernel returned status {rc}"
            if INDEX_MESSAGE in error:  # an index check (kernels/graph_index_checks.py) refused the step's input
                raise GraphIndexError(f"{self._step_name()}: {error}")
            raise KernelError(f"{self._step_name()}: {error}")

    def _step_name(self) -> str:
        step = self._failed_step(self.store) + self._first
        steps, what = self._names, "step" if self._names is self.manifest["steps"] else "weight-packing step"
        return f"{what} {step} ({steps[step]})" if 0 <= step < len(steps) else f"{what} {step}"

    def _error(self) -> str:
        return c_string(self._view(), self._last_error(self.store))


__all__ = ["GraphModule", "LibraryError"]

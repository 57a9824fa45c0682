"""Program: a fixed list of kernel calls over tensors that stay in wasm memory, run in one host crossing.

A graph runner (ONNX, MindSpore) turns a model into Steps over TensorRefs. This module places every
buffer in one arena by liveness (buffers whose lifetimes do not overlap share memory), uploads constants
once, encodes every step's argument records once, and runs the whole list with `wasmops_run_plan`; a
step-by-step mode calls the kernels one by one for timings and debugging. Knows nothing about frameworks.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import numpy as np

from ..ops.spec import TensorRef
from .runtime import ALIGN, KernelError, Runtime, _blocks

_STEP = struct.Struct("<iIi")  # kernel index, argument-record address (unsigned: memory may pass 2 GiB), count


@dataclass
class Step:
    kernel: str
    inputs: list[TensorRef | np.ndarray]  # ndarrays are constants, uploaded once
    output: TensorRef
    scalars: tuple[int | float, ...] = ()
    blocked: bool = False
    label: str = ""  # the model node this step comes from, for errors and timings


@dataclass
class StepTiming:
    label: str
    kernel: str
    seconds: float
    output: np.ndarray | None = field(default=None, repr=False)


def _padded(nbytes: int) -> int:
    return max(ALIGN, (nbytes + ALIGN - 1) & ~(ALIGN - 1))


def plan_offsets(sizes: dict[object, int], lifetimes: dict[object, tuple[int, int]]) -> tuple[dict, int]:
    """Greedy by size: each buffer takes the lowest offset free during its whole lifetime."""
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    offsets = {}
    for buf in sorted(sizes, key=lambda b: -sizes[b]):
        size, (first, last) = sizes[buf], lifetimes[buf]
        offset = 0
        for o, sz, _, _ in sorted(p for p in placed if p[2] <= last and first <= p[3]):
            if offset + size <= o:
                break
            offset = max(offset, o + sz)
        offsets[buf] = offset
        placed.append((offset, size, first, last))
    return offsets, max((o + s for o, s, _, _ in placed), default=0)


class Program:
    """Steps compiled against one runtime: buffers placed, constants uploaded, argument records encoded."""

    def __init__(
        self,
        runtime: Runtime,
        steps: list[Step],
        inputs: dict[str, TensorRef],
        outputs: dict[str, TensorRef | np.ndarray],
    ):
        self.rt, self.steps, self.inputs, self.outputs = runtime, steps, inputs, outputs
        self._allocs: list[int] = []
        consts: dict[int, np.ndarray] = {}
        sizes: dict[object, int] = {}
        lifetimes: dict[object, tuple[int, int]] = {}

        def use(ref: TensorRef, at: int) -> None:
            sizes[ref.buffer] = max(sizes.get(ref.buffer, 0), _padded(ref.nbytes))
            first, last = lifetimes.get(ref.buffer, (at, at))
            lifetimes[ref.buffer] = (min(first, at), max(last, at))

        for ref in inputs.values():
            use(ref, -1)
        for i, step in enumerate(steps):
            for x in step.inputs:
                if isinstance(x, np.ndarray):
                    consts[id(x)] = x
                else:
                    use(x, i)
            use(step.output, i)
        for ref in outputs.values():
            if isinstance(ref, TensorRef):
                use(ref, len(steps))
        offsets, arena_bytes = plan_offsets(sizes, lifetimes)
        self.arena_bytes = arena_bytes
        self.arena_base = arena = self._alloc(arena_bytes)
        self.address = {buf: arena + off for buf, off in offsets.items()}
        # constants: one region, uploaded now
        const_at, total = {}, 0
        for key, arr in consts.items():
            const_at[key], total = total, total + _padded(arr.nbytes)
        self.const_base = base = self._alloc(total)
        self.const_offsets = const_at  # id(constant) -> offset from const_base (program_format exports them)
        for key, arr in consts.items():
            at = base + const_at[key]
            self.rt._view[at : at + arr.nbytes] = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
        self.constant_bytes = total
        # argument records for every step, then the step table
        encoded, meta_size = [], 0
        for step in steps:
            tensors = [self._tensor(x, const_at, base, step.blocked) for x in step.inputs]
            tensors.append(self._tensor(step.output, const_at, base, step.blocked))
            encoded.append((step, tensors))
            meta_size += 16 * (len(tensors) + len(step.scalars)) + sum(40 + 8 * len(t[1]) for t in tensors)
        meta = self._alloc(meta_size + _STEP.size * len(steps))
        self._calls, table, at = [], bytearray(), meta
        for step, tensors in encoded:
            index, blob, n = self.rt._prepare(step.kernel, tensors, step.scalars, at)
            self.rt._view[at : at + len(blob)] = blob
            self._calls.append((index, at, n))
            table += _STEP.pack(index, at, n)
            at += len(blob)
        self.table = at
        self.rt._view[at : at + len(table)] = np.frombuffer(bytes(table), np.uint8)

    def _alloc(self, nbytes: int) -> int:
        ptr = self.rt.alloc(max(nbytes, ALIGN))
        self._allocs.append(ptr)
        return ptr

    def _tensor(self, x, const_at, base, blocked):
        if isinstance(x, np.ndarray):
            addr, shape, dtype = base + const_at[id(x)], x.shape, x.dtype
        else:
            addr, shape, dtype = self.address[x.buffer], x.shape, x.dtype
        return addr, (_blocks(shape) if blocked else shape), dtype

    def _load(self, feeds: dict[str, np.ndarray]) -> None:
        view = self.rt._view
        for name, ref in self.inputs.items():
            arr = feeds[name]
            at = self.address[ref.buffer]
            view[at : at + arr.nbytes] = arr.reshape(-1).view(np.uint8)

    def _read(self, ref: TensorRef | np.ndarray) -> np.ndarray:
        if isinstance(ref, np.ndarray):
            return ref.copy()
        at = self.address[ref.buffer]
        return np.frombuffer(self.rt._view, ref.dtype, ref.size, at).reshape(ref.shape).copy()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """All steps in one call into wasm (`wasmops_run_plan`)."""
        self._load(feeds)
        try:
            self.rt.run_plan(self.table, len(self.steps))
        except (KernelError, TimeoutError) as exc:
            at = getattr(exc, "step", None)
            step = self.steps[at] if at is not None and 0 <= at < len(self.steps) else None
            if step is None:
                raise
            raise type(exc)(f"{step.label} ({step.kernel}): {exc}") from None
        return {name: self._read(ref) for name, ref in self.outputs.items()}

    def run_steps(
        self, feeds: dict[str, np.ndarray], keep_outputs: bool = False
    ) -> tuple[dict[str, np.ndarray], list[StepTiming]]:
        """One host call per step: per-step timings (and outputs, if asked) for debugging."""
        self._load(feeds)
        timings = []
        for step, (index, at, n) in zip(self.steps, self._calls, strict=True):
            t0 = time.perf_counter()
            try:
                self.rt._invoke(step.kernel, index, at, n)
            except (KernelError, TimeoutError) as exc:
                raise type(exc)(f"{step.label}: {exc}") from None
            seconds = time.perf_counter() - t0
            timings.append(
                StepTiming(step.label, step.kernel, seconds, self._read(step.output) if keep_outputs else None)
            )
        return {name: self._read(ref) for name, ref in self.outputs.items()}, timings

    def close(self) -> None:
        for ptr in self._allocs:
            self.rt.free(ptr)
        self._allocs.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the runtime may already be gone at interpreter exit
            pass

    def __repr__(self) -> str:
        return (
            f"Program({len(self.steps)} steps, arena {self.arena_bytes / 2**20:.1f} MiB, "
            f"constants {self.constant_bytes / 2**20:.1f} MiB)"
        )


__all__ = ["Program", "Step", "StepTiming", "plan_offsets"]

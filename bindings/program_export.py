"""Export an ONNX model's op-by-op program (for fixed input shapes) to a file the JS loader runs on the op library.

The program is exactly what the op-by-op session runs through `wasmops_run_plan` (kernels/plan.py): every
kernel call with its tensors (as offsets into one arena or into the constants region) and scalars, plus the
constants' bytes (weights already packed into the kernels' layouts). `bindings/js/program.mjs` lays it out
in the op library's memory, encodes the same argument records and walks the same steps, so its results are
bitwise those of Python on the same library build. Programs that need the host at run time (values of
inputs read as attributes) are refused naming the node.

File layout (little-endian): b"WASMOPSP", u32 format, 32-byte sha256 of everything after it, u32 header
length, the JSON header, zero padding to a 64-byte boundary, then the constants region.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..kernels.plan import Program
from ..kernels.runtime import _blocks
from ..ops.spec import TensorRef
from ..registry.table import UnsupportedError
from .onnx_translate import NeedsFeedValues, np_dtype

if TYPE_CHECKING:
    from .onnx_session import InferenceSession

MAGIC = b"WASMOPSP"
FORMAT = 1
ARENA, CONSTANTS = 0, 1
#: declared input / output dtypes the JS runner converts to and from the compute dtypes (bindings/js/program.mjs)
JS_DTYPES = {"float32", "int32", "int64", "uint32", "int16", "uint16", "int8", "uint8", "bool"}


def _shapes(session: InferenceSession, input_shapes: dict[str, tuple[int, ...]] | None) -> dict[str, tuple]:
    """Every input's concrete shape: given, or static in the model; a symbolic dim without one is refused."""
    given = dict(input_shapes or {})
    unknown = sorted(set(given) - {a.name for a in session.get_inputs()})
    if unknown:
        raise ValueError(f"input_shapes names unknown input(s) {unknown}; the model inputs are {session._describe()}")
    shapes = {}
    for arg in session.get_inputs():
        shape = tuple(int(d) for d in given[arg.name]) if arg.name in given else None
        if shape is None:
            if not all(isinstance(d, int) and d >= 0 for d in arg.shape):
                raise ValueError(f"input {arg.name!r} has symbolic dims {arg.shape}: give its shape in input_shapes")
            shape = tuple(arg.shape)
        elif len(shape) != len(arg.shape) or any(
            isinstance(d, int) and d > 0 and d != s for d, s in zip(arg.shape, shape, strict=True)
        ):
            raise ValueError(f"input_shapes[{arg.name!r}] = {shape} does not fit the model's {arg.shape}")
        shapes[arg.name] = shape
    return shapes


def _check_dtypes(session: InferenceSession) -> None:
    for kind, vis in (("input", session._inputs), ("output", session._outputs)):
        for vi in vis:
            name = np_dtype(vi).name
            if name not in JS_DTYPES:
                raise UnsupportedError(
                    f"graph {kind} {vi.name!r} is {name}: the JS runner converts only {', '.join(sorted(JS_DTYPES))}"
                )


def _scalar(value: int | float) -> list[str]:
    """A scalar argument, exactly: a float as its 8 IEEE bytes (JSON has no inf / nan), an int as decimal text."""
    if isinstance(value, float | np.floating):
        return ["f", struct.pack("<d", float(value)).hex()]
    return ["i", str(int(value))]


def build(session: InferenceSession, input_shapes: dict[str, tuple[int, ...]] | None = None) -> tuple[dict, bytes]:
    """The program for these input shapes as (JSON header, constants region)."""
    _check_dtypes(session)
    shapes = _shapes(session, input_shapes)
    try:
        program = session._translate(shapes, {})
    except NeedsFeedValues as need:
        raise UnsupportedError(
            f"cannot export a program: {need.reason}; here the value of input(s) {', '.join(sorted(need.names))} "
            "would be read on the host for every run, which an exported program cannot do "
            "(freeze it into the model, or run op by op in Python)"
        ) from None
    try:
        return _describe(session, program, shapes)
    finally:
        program.close()


def _describe(session: InferenceSession, program: Program, shapes: dict[str, tuple]) -> tuple[dict, bytes]:
    region = bytearray(program.constant_bytes)
    consts = {}
    for step in program.steps:
        for x in step.inputs:
            if isinstance(x, np.ndarray):
                consts[id(x)] = x
    for key, arr in consts.items():
        at = program.const_offsets[key]
        region[at : at + arr.nbytes] = np.ascontiguousarray(arr).tobytes()

    def where(x, blocked: bool = False) -> list:
        if isinstance(x, np.ndarray):
            space, offset = CONSTANTS, program.const_offsets[id(x)]
        else:
            space, offset = ARENA, program.address[x.buffer] - program.arena_base
        return [space, offset, list(_blocks(x.shape) if blocked else x.shape), x.dtype.name]

    kernels: dict[str, int] = {}
    steps = []
    for step in program.steps:
        args = [where(x, step.blocked) for x in [*step.inputs, step.output]]
        index = kernels.setdefault(step.kernel, len(kernels))
        steps.append(
            {"kernel": index, "label": step.label, "tensors": args, "scalars": [_scalar(v) for v in step.scalars]}
        )
    library = session.runtime.manifest
    params = {k.name: list(k.params) for k in library.kernels}
    inputs = []
    for vi in session._inputs:
        ref = program.inputs[vi.name]
        inputs.append(dict(zip(("space", "offset", "shape", "compute"), where(ref), strict=True)))
        inputs[-1].update(name=vi.name, dtype=np_dtype(vi).name, shape=list(shapes[vi.name]))
    outputs = []
    for vi in session._outputs:
        value, declared = program.outputs[vi.name], np_dtype(vi)
        if not isinstance(value, TensorRef):  # a folded constant: stored as returned, in the declared dtype
            value = np.ascontiguousarray(np.asarray(value).astype(declared, copy=False))
            at = len(region)
            region += value.tobytes() + bytes(-value.nbytes % 64)
            entry = [CONSTANTS, at, list(value.shape), value.dtype.name]
        else:
            entry = where(value)
        outputs.append(dict(zip(("space", "offset", "shape", "compute"), entry, strict=True)))
        outputs[-1].update(name=vi.name, dtype=declared.name)
    doc = {
        "format": FORMAT,
        "source_sha256": hashlib.sha256(session.model.SerializeToString()).hexdigest(),
        "library": {"content_hash": library.content_hash, "isa": library.isa},
        "kernels": [[name, params[name]] for name in kernels],
        "arena_bytes": program.arena_bytes,
        "constant_bytes": len(region),
        "inputs": inputs,
        "outputs": outputs,
        "steps": steps,
    }
    return doc, bytes(region)


def write(path: str | Path, doc: dict, region: bytes) -> Path:
    header = json.dumps(doc, separators=(",", ":")).encode()
    body = struct.pack("<I", len(header)) + header
    body += bytes(-(len(MAGIC) + 4 + 32 + len(body)) % 64) + region
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(MAGIC + struct.pack("<I", FORMAT) + hashlib.sha256(body).digest() + body)
    tmp.replace(path)
    return path


def export_program(
    session: InferenceSession, path: str | Path, input_shapes: dict[str, tuple[int, ...]] | None = None
) -> Path:
    """Write `session`'s program for `input_shapes` (default: the model's static shapes) to `path`."""
    doc, region = build(session, input_shapes)
    return write(path, doc, region)


__all__ = ["export_program"]

"""The whole-graph module's manifest section and side weight file, shared by the compiler and the loader.

A compiled graph carries a JSON custom section `wasmops.graph` (inputs, outputs, arena size, weights hash
and mode, source-model hash, build flags) whose content hash covers every other byte of the module. A side
weight file starts with a header holding the weights' sha256, so a module refuses weights from another model.
Needs only the standard library.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from .manifest import LibraryError, attach_section, content_hash, split_sections

SECTION = "wasmops.graph"
FORMAT = 1
WEIGHTS_MAGIC = b"WASMOPSW"
_HEADER = struct.Struct("<8sI32sQ")  # magic, format, sha256 of the payload, payload bytes


def io_entry(name: str, buf) -> dict[str, Any]:
    return {"name": name, "shape": list(buf.shape), "dtype": buf.dtype}


def attach(module: bytes, doc: dict[str, Any]) -> bytes:
    doc = dict(doc, format=FORMAT, content_hash=content_hash(module))
    return attach_section(module, SECTION, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())


def read(data: bytes) -> dict[str, Any]:
    """The manifest of a compiled graph, after checking the module is whole and unmodified."""
    body, raw = split_sections(data, SECTION)
    if raw is None:
        raise LibraryError("no wasmops.graph manifest: not a model compiled by `wasmops compile`")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise LibraryError(f"corrupt graph manifest: {exc}") from None
    if doc.get("format") != FORMAT:
        raise LibraryError(f"unsupported graph manifest format {doc.get('format')!r}")
    if content_hash(body) != doc.get("content_hash"):
        raise LibraryError("content hash mismatch: the module was modified or corrupted after it was compiled")
    return doc


def weights_path(module_path: Path) -> Path:
    return Path(module_path).with_suffix(".weights")


def write_weights(path: Path, payload: bytes | bytearray, sha256: str) -> None:
    tmp = Path(path).with_suffix(".weights.tmp")
    with open(tmp, "wb") as f:
        f.write(_HEADER.pack(WEIGHTS_MAGIC, FORMAT, bytes.fromhex(sha256), len(payload)))
        f.write(payload)
    tmp.replace(path)


def read_weights(path: Path, sha256: str, nbytes: int) -> bytes:
    """The payload of a side weight file, refused unless it is the one the module was compiled with."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise LibraryError(f"the model keeps its weights in a side file and {path} does not exist") from None
    if len(data) < _HEADER.size:
        raise LibraryError(f"{path} is not a wasmops weight file (too short)")
    magic, fmt, digest, size = _HEADER.unpack_from(data)
    if magic != WEIGHTS_MAGIC or fmt != FORMAT:
        raise LibraryError(f"{path} is not a wasmops weight file")
    if digest.hex() != sha256:
        raise LibraryError(
            f"{path} holds weights {digest.hex()[:16]}..., but the module was compiled with {sha256[:16]}...: "
            "it belongs to a different model"
        )
    payload = data[_HEADER.size :]
    if size != nbytes or len(payload) != nbytes or hashlib.sha256(payload).hexdigest() != sha256:
        raise LibraryError(f"{path} is truncated or corrupted (weights hash mismatch)")
    return payload

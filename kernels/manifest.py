"""The op library's manifest: a JSON custom section that names every dispatch-table entry.

Shared by the builder (writes it) and the runtime (reads and verifies it); needs only the standard library.
The content hash covers every byte of the module except the manifest section itself, so a corrupted or
truncated library is refused at load instead of misbehaving later.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECTION = "wasmops.manifest"
MAGIC = b"\0asm\x01\0\0\0"
FORMAT = 1


class LibraryError(ValueError):
    """The .wasm file is not a usable wasmops op library (corrupt, truncated, wrong format)."""


@dataclass(frozen=True)
class KernelEntry:
    index: int
    name: str
    op: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    kernels: tuple[KernelEntry, ...]
    isa: str
    content_hash: str
    info: dict[str, Any]

    def to_json(self) -> bytes:
        doc = dict(
            self.info,
            format=FORMAT,
            isa=self.isa,
            content_hash=self.content_hash,
            kernels=[[k.name, k.op, list(k.params)] for k in self.kernels],
        )
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        doc = json.loads(raw)
        if doc.pop("format", None) != FORMAT:
            raise LibraryError("unsupported manifest format")
        kernels = tuple(KernelEntry(i, n, op, tuple(p)) for i, (n, op, p) in enumerate(doc.pop("kernels")))
        return cls(kernels, doc.pop("isa"), doc.pop("content_hash"), doc)


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise LibraryError("truncated module (section header runs past the end)")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        shift += 7
        if not byte & 0x80:
            return value, at


def split_sections(data: bytes, section: str = SECTION) -> tuple[bytes, bytes | None]:
    """Return (module bytes without the named custom section, that section's payload or None)."""
    if not data.startswith(MAGIC):
        raise LibraryError("not a wasm module (bad magic number or version)")
    at, kept, manifest = len(MAGIC), [data[: len(MAGIC)]], None
    while at < len(data):
        start = at
        section_id = data[at]
        size, body = _read_leb128(data, at + 1)
        end = body + size
        if end > len(data):
            raise LibraryError("truncated module (a section runs past the end)")
        if section_id == 0:
            name_len, name_at = _read_leb128(data, body)
            if data[name_at : name_at + name_len] == section.encode():
                manifest = data[name_at + name_len : end]
                at = end
                continue
        kept.append(data[start:end])
        at = end
    return b"".join(kept), manifest


def content_hash(module_without_manifest: bytes) -> str:
    return hashlib.sha256(module_without_manifest).hexdigest()


def attach(module: bytes, manifest: Manifest) -> bytes:
    """Append the manifest as a custom section (valid anywhere after the header)."""
    return attach_section(module, SECTION, manifest.to_json())


def attach_section(module: bytes, section: str, body: bytes) -> bytes:
    name = section.encode()
    payload = _leb128(len(name)) + name + body
    return module + b"\0" + _leb128(len(payload)) + payload


def read(path_or_bytes: str | Path | bytes) -> tuple[bytes, Manifest]:
    """Read a library, verify its hash, and return (module bytes, manifest)."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    body, raw = split_sections(data)
    if raw is None:
        raise LibraryError("no wasmops manifest section: not an op library built by `wasmops build`")
    try:
        manifest = Manifest.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise LibraryError(f"corrupt manifest: {exc}") from None
    if content_hash(body) != manifest.content_hash:
        raise LibraryError("content hash mismatch: the module was modified or corrupted after it was built")
    return data, manifest

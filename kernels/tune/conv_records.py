"""Conv-variant records: which of our own conv schedules (ops/_conv_static.Variant) won for a conv shape.

Where the trace records (records.py) replay a MetaSchedule trace on one fused kernel, these choose, at
legalisation, the variant a conv is computed and scheduled with; the hand choice (`choose`) stays for every
conv without one. Keyed by the conv's configuration (conv_space.config_key) and the ISA build; files
`conv-variants-<isa>-tvm<version>.json` (the TVM they were measured with, for information) in the same
folders as the trace records (the user's over the package's), so `records.digest()` covers them and new
records give new compiled graphs.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import records as rec
from .conv_space import variant_from_json, variant_json

FORMAT = 1


@dataclass(frozen=True)
class ConvRecord:
    """The variant that won for `key` (a conv configuration), and what was measured (ms, same runner)."""

    key: str
    variant: dict
    hand_ms: float
    tuned_ms: float
    threads: int
    candidates: int
    model: str = ""
    created: str = ""


def file_name(isa: str, tvm_version: str) -> str:
    return f"{rec.CONV_PREFIX}{isa}-tvm{tvm_version}.json"


def read_file(path: Path, isa: str) -> dict[str, ConvRecord]:
    """The usable records of one file; {} with a RecordWarning if it is corrupt or not conv records. A variant
    is our own schedule's decisions, not TVM's, so records from another TVM version still apply."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or doc.get("kind") != "conv-variants":
            raise ValueError(f"format {doc.get('format')!r} / kind {doc.get('kind')!r}")
        if doc.get("isa") != isa:
            return {}
        records = [ConvRecord(**r) for r in doc["records"]]
        for r in records:
            variant_from_json(r.variant)  # refuse a file with a variant our compute does not know
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"conv records {path} are unreadable ({exc}): ignored", rec.RecordWarning, stacklevel=3)
        return {}
    return {r.key: r for r in records}


def load(isa: str) -> dict:
    """conv configuration key -> Variant, for `isa` and this TVM (the user's records over the package's)."""
    found = {}
    for path in reversed(rec._files(conv=True)):
        found.update(read_file(path, isa))
    return {key: variant_from_json(r.variant) for key, r in found.items()}


def save(records: list[ConvRecord], isa: str, path: Path | None = None) -> Path:
    """Merge into the user's file for `isa` (a newer measurement of the same conv replaces the old one)."""
    version = rec._tvm_version()
    path = path or rec.user_dir() / file_name(isa, version)
    have = read_file(path, isa) if path.exists() else {}
    have.update({r.key: r for r in records})
    head = {"format": FORMAT, "kind": "conv-variants", "tvm_version": version, "isa": isa}
    return rec.write(path, head, have.values())


def record(key: str, variant, hand_ms: float, tuned_ms: float, threads: int, candidates: int, model: str):
    return ConvRecord(key, variant_json(variant), hand_ms, tuned_ms, threads, candidates, model, rec.now())

"""Op-tile records: the register tile each tunable op-library kernel is built with, per shape class and ISA.

`wasmops tune --ops` times every tile a kernel allows (ops/_tile_sizes.TILES) on the layer shapes of each
shape class and keeps a tile only where it beat the hand tile; `wasmops build` (kernels/builder.py) compiles
each dispatch entry `<kernel>__<class>` with its record's tile, the hand tile where there is none. Files
`op-tiles-<isa>.json`, in the same folders as the other records (the user's over the package's). A tile is
our own schedule's parameter, not TVM's, so records apply under any TVM version.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ...ops._tile_sizes import Tile
from . import records as rec

FORMAT = 1
KIND = "op-tiles"


@dataclass(frozen=True)
class TileRecord:
    """The tile that won for dispatch entry `key` (`<kernel>__<class>`), and what was measured (ms, summed
    over `workloads`, the layer shapes of that class it was timed on)."""

    key: str
    tile: str
    hand_ms: float
    tuned_ms: float
    threads: int
    candidates: int
    workloads: list[str] = field(default_factory=list)
    created: str = ""


def file_name(isa: str) -> str:
    return f"{rec.OPS_PREFIX}{isa}.json"


def read_file(path: Path, isa: str) -> dict[str, TileRecord]:
    """The usable records of one file for `isa`; {} with a RecordWarning if it is corrupt or foreign."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or doc.get("kind") != KIND:
            raise ValueError(f"format {doc.get('format')!r} / kind {doc.get('kind')!r}")
        if doc.get("isa") != isa:
            return {}
        records = [TileRecord(**r) for r in doc["records"]]
        for r in records:
            Tile.parse(r.tile)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"op-tile records {path} are unreadable ({exc}): ignored", rec.RecordWarning, stacklevel=3)
        return {}
    return {r.key: r for r in records}


def load(isa: str) -> dict[str, Tile]:
    """Dispatch entry -> tile for `isa` (the user's records over the package's)."""
    found = {}
    for path in reversed(rec._files(prefix=rec.OPS_PREFIX)):
        found.update(read_file(path, isa))
    return {key: Tile.parse(r.tile) for key, r in found.items()}


def save(records: list[TileRecord], isa: str, path: Path | None = None) -> Path:
    """Merge into the user's file for `isa` (a newer measurement of an entry replaces the old one)."""
    path = path or rec.user_dir() / file_name(isa)
    have = read_file(path, isa) if path.exists() else {}
    have.update({r.key: r for r in records})
    return rec.write(path, {"format": FORMAT, "kind": KIND, "isa": isa}, have.values())

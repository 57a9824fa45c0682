"""The tuning database: JSON files of tuned schedules, keyed by workload, TVM version and ISA build.

A record holds the MetaSchedule trace that schedules one fused kernel (the unscheduled PrimFunc the graph
compiler makes, before our hand schedule), the workload itself (to check structural equality, not only the
hash) and what was measured. Files come from the package (`kernels/tune/records/*.json`, shipped in the
wheel) and the user's cache dir (`<wasmops cache>/tune_records/*.json`, where `wasmops tune` writes); the
user's win. A corrupt file, or one written by another TVM version, is skipped with a warning.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ..module_cache import cache_dir

log = logging.getLogger("wasmops.tune")

FORMAT = 1
PACKAGE_DIR = Path(__file__).parent / "records"


class RecordWarning(UserWarning):
    """A tuning-record file was skipped (corrupt, another format, another TVM version)."""


@dataclass(frozen=True)
class Record:
    """One tuned kernel: `trace` (a MetaSchedule trace, TVM JSON) schedules the workload `workload_json`."""

    key: str
    name: str
    trace: str
    workload_json: str
    hand_ms: float
    tuned_ms: float
    threads: int
    trials: int
    model: str = ""
    created: str = ""


def user_dir() -> Path:
    """Where `wasmops tune` writes: $WASMOPS_TUNE_RECORDS if set, else <wasmops cache dir>/tune_records."""
    return Path(os.environ.get("WASMOPS_TUNE_RECORDS") or cache_dir() / "tune_records")


def record_dirs() -> list[Path]:
    """Folders read by `load`, highest priority first: the user's, then the package's."""
    return [user_dir(), PACKAGE_DIR]


#: file-name prefixes of the conv-variant records (kernels/tune/conv_records.py) and the op library's tile
#: records (kernels/tune/op_records.py), kept apart from the trace files
CONV_PREFIX = "conv-variants-"
OPS_PREFIX = "op-tiles-"


def _files(conv: bool | None = False, prefix: str | None = None) -> list[Path]:
    """Record files, highest priority first: trace files (conv False), conv-variant files (True), graph records
    of both kinds (None); or the files named `prefix`*."""
    found = [p for d in record_dirs() if d.is_dir() for p in sorted(d.glob("*.json"))]
    if prefix is not None:
        return [p for p in found if p.name.startswith(prefix)]
    found = [p for p in found if not p.name.startswith(OPS_PREFIX)]
    return [p for p in found if conv is None or p.name.startswith(CONV_PREFIX) == conv]


def digest() -> str:
    """A hash of every record file a graph compile may read (traces, conv variants): part of its cache key."""
    h = hashlib.sha256()
    for path in _files(conv=None):
        try:
            h.update(str(path).encode() + b"\0" + path.read_bytes())
        except OSError:
            continue
    return h.hexdigest()


def workload_key(func) -> str:
    """The structural hash of an unscheduled PrimFunc (its symbol name left out), as hex."""
    import tvm_ffi

    if "global_symbol" in (func.attrs or {}):
        func = func.without_attr("global_symbol")
    return f"{tvm_ffi.structural_hash(func) & (1 << 64) - 1:016x}"


def _tvm_version() -> str:
    import tvm

    return tvm.__version__


def read_file(path: Path, isa: str, tvm_version: str) -> dict[str, Record]:
    """The records of one file for `isa`; {} (with a RecordWarning) if it is corrupt or foreign."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT}")
        if doc.get("tvm_version") != tvm_version:
            if path.parent == PACKAGE_DIR:  # the package's, made with the TVM of its release: not the user's doing
                log.debug("tuning records %s: TVM %s, this is %s: ignored", path, doc.get("tvm_version"), tvm_version)
                return {}
            warnings.warn(
                f"tuning records {path} were made with TVM {doc.get('tvm_version')}, this is {tvm_version}: ignored",
                RecordWarning,
                stacklevel=3,
            )
            return {}
        if doc.get("isa") != isa:
            return {}
        records = [Record(**r) for r in doc["records"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"tuning records {path} are unreadable ({exc}): ignored", RecordWarning, stacklevel=3)
        return {}
    return {r.key: r for r in records}


def load(isa: str) -> dict[str, Record]:
    """Every usable record for `isa` and this TVM, by workload key (user records over the package's)."""
    version, found = _tvm_version(), {}
    for path in reversed(_files()):  # lowest priority first: later files overwrite
        found.update(read_file(path, isa, version))
    return found


def save(records: list[Record], isa: str, path: Path | None = None) -> Path:
    """Merge `records` into the user's file for `isa` (a workload's faster record wins); returns the file."""
    version = _tvm_version()
    path = path or user_dir() / f"tuned-{isa}-tvm{version}.json"
    have = read_file(path, isa, version) if path.exists() else {}
    for rec in records:
        if rec.key not in have or rec.tuned_ms < have[rec.key].tuned_ms:
            have[rec.key] = rec
    return write(path, {"format": FORMAT, "tvm_version": version, "isa": isa}, have.values())


def write(path: Path, head: dict, records) -> Path:
    """`head` plus the records (dataclasses, sorted by key) as JSON, replacing `path` atomically."""
    doc = {**head, "records": [asdict(r) for r in sorted(records, key=lambda r: r.key)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    return path


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def apply(record: Record, func):
    """`func` scheduled by the record's trace; ValueError if `func` is not the record's workload."""
    import tvm
    import tvm_ffi
    from tvm.s_tir.schedule import Trace

    bare = func.without_attr("global_symbol") if "global_symbol" in (func.attrs or {}) else func
    if not tvm_ffi.structural_equal(bare, tvm.ir.load_json(record.workload_json)):
        raise ValueError(f"record {record.key} ({record.name}): the kernel is not its workload (hash collision)")
    sch = tvm.s_tir.Schedule(bare)
    Trace.apply_json_to_schedule(tvm.ir.load_json(record.trace), sch)
    return sch.mod["main"]

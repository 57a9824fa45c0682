"""Operator definitions (wasmops.ops): one file per op family, each exporting `OPS`, a list of Op instances.

Nothing here knows about wasmtime or frameworks; TVM is imported only when a kernel is built.
"""

from __future__ import annotations

import importlib
import pkgutil

from .spec import PREV, Call, Kernel, Op, OpTable

__all__ = ["PREV", "Call", "Kernel", "Op", "OpTable", "all_ops"]

_NOT_OP_MODULES = {"spec", "simd_schedules"}
_TABLE: OpTable | None = None


def all_ops() -> OpTable:
    """Scan this package once and return every op, by name."""
    global _TABLE
    if _TABLE is None:
        table = OpTable()
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name in _NOT_OP_MODULES or info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            for op in getattr(module, "OPS", ()):
                table.add(op)
        _TABLE = table
    return _TABLE

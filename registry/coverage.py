"""Coverage of each frontend: which of its operators the registry translates (`wasmops ops`)."""

from __future__ import annotations

from .table import REGISTRY


def _onnx_names() -> list[str]:
    from onnx import defs

    return sorted({s.name for s in defs.get_all_schemas() if s.domain in ("", "ai.onnx")})


def _numpy_names() -> list[str]:
    import numpy as np

    return sorted(
        n
        for n in dir(np)
        if not n.startswith("_") and callable(getattr(np, n)) and not isinstance(getattr(np, n), type)
    )


def _mindspore_names() -> list[str]:
    """MindSpore's layers (nn.*) and primitives (ops.*), when MindSpore is installed."""
    try:
        from mindspore import nn, ops
        from mindspore.ops import Primitive
    except ImportError:
        return []
    cells = [f"nn.{n}" for n in dir(nn) if isinstance(getattr(nn, n), type) and issubclass(getattr(nn, n), nn.Cell)]
    prims = [
        f"ops.{n}" for n in dir(ops) if isinstance(getattr(ops, n), type) and issubclass(getattr(ops, n), Primitive)
    ]
    return sorted(set(cells) | set(prims))


def coverage(frontend: str) -> list[tuple[str, bool, str]]:
    """(operator, supported, detail) for every operator the frontend defines (and every registered one)."""
    if frontend == "onnx":
        from . import onnx_all  # noqa: F401 - registration

        universe = _onnx_names()
    elif frontend == "numpy":
        from . import numpy_names  # noqa: F401

        universe = _numpy_names()
    else:
        from . import mindspore_ops, mindspore_pool_norm  # noqa: F401 - registration

        universe = _mindspore_names()
    rows = []
    for name in sorted(set(universe) | set(REGISTRY.names(frontend))):
        entries = [e for e in REGISTRY.entries(frontend) if e.name == name]
        detail = (
            ", ".join(f"since {e.since}" for e in entries)
            if frontend == "onnx"
            else (entries[0].doc if entries else "")
        )
        rows.append((name, bool(entries), detail))
    return rows

"""A failing fuzz example as a file: the failure log prints input sets summarised, this keeps them whole.

    python -m tests.fuzz.replay build/fuzz/OP.npz   # re-runs the check, prints the verdict or the mismatch

The .npz holds the op's name, every array of the input set and of the attributes as its own entry, and the
rest (shapes, scalars, tuples, None) as JSON that points to those entries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .strategies import Example


def save(path: Path, op_name: str, ex: Example) -> Path:
    """Write `ex` (its first input set and attributes) to `path` (.npz); returns the path."""
    arrays: dict[str, np.ndarray] = {}

    def encode(value: Any, key: str) -> Any:
        if isinstance(value, np.ndarray):
            arrays[key] = value
            return {"array": key}
        if isinstance(value, list | tuple):
            return {type(value).__name__: [encode(v, f"{key}_{i}") for i, v in enumerate(value)]}
        return value.item() if isinstance(value, np.generic) else value

    spec = {
        "op": op_name,
        "inputs": encode(tuple(ex.inputs), "in"),
        "attrs": {k: encode(v, f"attr_{k}") for k, v in ex.attrs.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, __spec__=np.array(json.dumps(spec)), **arrays)
    return path


def load(path: Path | str) -> tuple[str, Example]:
    """(op name, the example) from a file `save` wrote."""
    with np.load(path) as data:

        def decode(value: Any) -> Any:
            if isinstance(value, dict) and "array" in value:
                return data[value["array"]]
            if isinstance(value, dict) and ("tuple" in value or "list" in value):
                kind = "tuple" if "tuple" in value else "list"
                return (tuple if kind == "tuple" else list)(decode(v) for v in value[kind])
            return value

        spec = json.loads(str(data["__spec__"]))
        inputs = decode(spec["inputs"])
        return spec["op"], Example(tuple(inputs), {k: decode(v) for k, v in spec["attrs"].items()})


def main(argv: list[str] | None = None) -> int:
    from .check import Mismatch, check

    (path,) = argv if argv is not None else sys.argv[1:]
    op_name, ex = load(path)
    print(f"{op_name}: {ex!r}")
    try:
        print(check(op_name, ex)[0])
    except Mismatch as exc:
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

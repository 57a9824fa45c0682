"""Every ONNX translator module: importing this registers them all (the one place a new family joins).

Translator modules are the files `registry/onnx_*.py`; they are found by scanning, so adding a family is
adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_HERE = Path(__file__).parent


def load() -> None:
    """Import every `onnx_*` module of this package once (registration happens at import)."""
    for info in sorted(pkgutil.iter_modules([str(_HERE)]), key=lambda m: m.name):
        if info.name.startswith("onnx_") and info.name != "onnx_all":
            importlib.import_module(f"{__package__}.{info.name}")


load()

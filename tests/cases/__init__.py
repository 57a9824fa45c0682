"""Op test cases, one module per op family, each exporting CASES: a list of Case rows.

A row names an op, its inputs (made from a fixed seed) and attributes, and the tolerance the kernel's
result must meet against the op's numpy reference.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Case:
    op: str
    inputs: tuple[Any, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    rtol: float = 1e-5
    atol: float = 1e-6
    id: str = ""

    def __str__(self) -> str:
        return f"{self.op}-{self.id}" if self.id else self.op


def rand(*shape: int, dtype: str = "float32", seed: int = 0, low: float = -3.0, high: float = 3.0) -> np.ndarray:
    """Deterministic test data; ints drawn from [low, high)."""
    rng = np.random.default_rng(seed + 7919 * len(shape) + sum(shape))
    if np.dtype(dtype).kind == "i":
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        cases.extend(importlib.import_module(f"{__name__}.{info.name}").CASES)
    return cases

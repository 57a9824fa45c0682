"""The registry: (frontend, operator name, version) -> translator, plus the coverage report.

Frontends register translators next to their mapping code (registry/onnx_ops.py, ...). A lookup picks
the newest registration whose version is <= the model's (ONNX opset semantics); a miss names what exists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    frontend: str
    name: str
    since: int  # first version (opset) this translation applies to
    translate: Callable
    attrs: frozenset[str]  # attributes the translation understands; any other is reported unsupported
    doc: str = ""


class UnsupportedError(NotImplementedError):
    """The model uses operators or attributes the op library cannot run; the message lists every one."""


class Registry:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], list[Entry]] = defaultdict(list)

    def register(self, frontend: str, name: str, since: int = 1, attrs: tuple[str, ...] = (), doc: str = ""):
        def decorate(fn: Callable) -> Callable:
            entries = self._entries[(frontend, name)]
            if any(e.since == since for e in entries):
                raise ValueError(f"{frontend} operator {name} (since {since}) is registered twice")
            entries.append(Entry(frontend, name, since, fn, frozenset(attrs), doc or (fn.__doc__ or "").strip()))
            entries.sort(key=lambda e: e.since)
            return fn

        return decorate

    def lookup(self, frontend: str, name: str, version: int = 10**6) -> Entry | None:
        match = None
        for entry in self._entries.get((frontend, name), ()):
            if entry.since <= version:
                match = entry
        return match

    def names(self, frontend: str) -> list[str]:
        return sorted(n for f, n in self._entries if f == frontend)

    def entries(self, frontend: str) -> list[Entry]:
        return [e for (f, _), es in sorted(self._entries.items()) if f == frontend for e in es]


REGISTRY = Registry()

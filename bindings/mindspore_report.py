"""What to_wasm put on wasm and what stayed native, and why: the cell-level report made at conversion
(calls written in construct are found in its source, for information only), and the report rebuilt from
the compiled graph at the first call (every operation, its FLOPs, the reason it is not on wasm)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field

from .mindspore_fuse import Fusion

_FUNCTIONAL_MODULES = {"ops", "F", "P", "mint", "ms", "mindspore", "nn", "np", "numpy"}


@dataclass
class ReportEntry:
    path: str  # where in the network: "layer1.0.conv1", or "Block.construct" for calls in construct
    what: str  # "nn.Conv2d", "ops.Add", "ops.relu(...)", "operator +"
    wasm: bool
    reason: str = ""
    flops: int = 0  # from the compiled graph (after the first call); 0 in the cell-level report


@dataclass
class ConversionReport:
    """What `to_wasm` put on wasm and what stayed native, and why."""

    backend: str
    entries: list[ReportEntry] = field(default_factory=list)

    @property
    def wasm(self) -> list[ReportEntry]:
        return [e for e in self.entries if e.wasm]

    @property
    def native(self) -> list[ReportEntry]:
        return [e for e in self.entries if not e.wasm]

    @property
    def op_share(self) -> float:
        """The share of operations that run on wasm."""
        return len(self.wasm) / len(self.entries) if self.entries else 1.0

    @property
    def flop_share(self) -> float:
        """The share of FLOPs (from the compiled graph; 1.0 before the first call) that run on wasm."""
        total = sum(e.flops for e in self.entries)
        return sum(e.flops for e in self.wasm) / total if total else 1.0

    def __str__(self) -> str:
        lines = [
            f"to_wasm ({self.backend}): {len(self.wasm)} on wasm, {len(self.native)} native "
            f"({self.op_share:.1%} of ops, {self.flop_share:.1%} of FLOPs on wasm)"
        ]
        lines += [f"  wasm    {e.path}: {e.what}" for e in self.wasm]
        lines += [f"  native  {e.path}: {e.what} — {e.reason}" for e in self.native]
        return "\n".join(lines)


def _source_tree(fn) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None


def _functional_calls(cell_type: type) -> list[tuple[str, str]]:
    """Calls in construct (and in the methods it calls) that are not cell / primitive attributes."""
    tree = _source_tree(cell_type.construct)
    if tree is None:
        return [("construct", "source unavailable: calls inside it could not be checked")]
    trees = [tree]
    for node in ast.walk(tree):  # helper methods construct calls, one level deep
        fn = node.func if isinstance(node, ast.Call) else None
        if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id == "self":
            method = inspect.getattr_static(cell_type, fn.attr, None)
            if inspect.isfunction(method) and fn.attr != "construct":
                trees += [t for t in [_source_tree(method)] if t is not None]
    found: dict[str, str] = {}
    reason = "computed by MindSpore: to_wasm replaces cell and primitive attributes, not calls in construct"
    for node in (n for t in trees for n in ast.walk(t)):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Call):
                found.setdefault(f"{ast.unparse(fn)}(...)", reason)
            elif isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
                if fn.value.id in _FUNCTIONAL_MODULES:
                    found.setdefault(f"{fn.value.id}.{fn.attr}(...)", reason)
                elif fn.value.id != "self":
                    found.setdefault(f"tensor method .{fn.attr}(...)", reason)
        elif isinstance(node, ast.BinOp):
            symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@"}.get(type(node.op))
            if symbol:
                found.setdefault(f"operator {symbol}", reason + " (if it acts on tensors)")
    return sorted(found.items())


def _under(path: str, prefixes) -> bool:
    return any(p == "" or path == p or path.startswith(p + ".") for p in prefixes)


def _graph_entries(fusion: Fusion, layer_paths: list[str]) -> list[ReportEntry]:
    """The report from the root graph: every compute node, where it ran, its FLOPs, why not wasm."""
    fused = list(fusion.fused)
    blockers = [n for n in fusion.root.nodes if n.problem and not n.problem.startswith("its input comes from")]
    entries = []
    for node in fusion.root.nodes:
        wasm = _under(node.path, fused) or _under(node.path, layer_paths)
        reason = ""
        if not wasm:
            reason = node.problem or (
                "translatable, but its cell runs natively: the cell also holds "
                + ", ".join(sorted({f"{b.prim} ({b.path or 'top'})" for b in blockers})[:3])
            )
        entries.append(ReportEntry(node.path or "(top)", node.prim, wasm, reason, node.flops))
    return entries

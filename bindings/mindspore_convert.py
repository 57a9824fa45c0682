"""`to_wasm(cell)`: a copy of a MindSpore network whose supported layers and primitives run on wasm.

The network is deep-copied (the original keeps running natively; trained weights are read from the
copy at conversion). Every sub-cell with a registry entry ("nn.Conv2d", ...) and every primitive
attribute of a user cell (self.add = ops.Add()) is replaced by a WasmCell. Everything else stays native
and is listed in the report with the reason: a layer type with no translation, attribute values the
kernels cannot serve, and the calls written directly in a user cell's construct (ops.relu(x), x + y),
which a cell-level conversion cannot reach.
"""

from __future__ import annotations

import ast
import copy
import inspect
import logging
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.ops import Primitive

from ..registry.mindspore_ops import static_problem
from ..registry.table import REGISTRY, UnsupportedError
from .mindspore_backend import WasmCell, WasmOp, get_backend
from .ms_aot import shim

log = logging.getLogger("wasmops.mindspore")
_CONTAINERS = ("SequentialCell", "CellList", "CellDict")
_FUNCTIONAL_MODULES = {"ops", "F", "P", "mint", "ms", "mindspore", "nn", "np", "numpy"}


@dataclass
class ReportEntry:
    path: str  # where in the network: "layer1.0.conv1", or "Block.construct" for calls in construct
    what: str  # "nn.Conv2d", "ops.Add", "ops.relu(...)", "operator +"
    wasm: bool
    reason: str = ""


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

    def __str__(self) -> str:
        lines = [f"to_wasm ({self.backend}): {len(self.wasm)} on wasm, {len(self.native)} native"]
        lines += [f"  wasm    {e.path}: {e.what}" for e in self.wasm]
        lines += [f"  native  {e.path}: {e.what} — {e.reason}" for e in self.native]
        return "\n".join(lines)


def _registry_name(obj) -> str | None:
    """ "nn.Conv2d" / "ops.Add" for MindSpore's own classes (a user subclass may change construct)."""
    module = type(obj).__module__
    if not module.startswith("mindspore."):
        return None
    return ("ops." if isinstance(obj, Primitive) else "nn.") + type(obj).__name__


def _plain(value):
    if isinstance(value, ms.Tensor):  # Parameters too: a copy, so later training does not leak in
        return np.array(value.asnumpy())
    if isinstance(value, nn.Cell | Primitive):
        return _registry_name(value) or type(value).__name__
    if isinstance(value, list):
        return tuple(value)
    return value


def _attr(obj, dotted: str):
    """getattr along a dotted path; on a primitive, the user's init arguments come first."""
    for part in dotted.split("."):
        if obj is None:
            return None
        if isinstance(obj, Primitive):
            init = getattr(obj, "init_attrs", None) or {}
            obj = init[part] if part in init else obj.attrs.get(part, getattr(obj, part, None))
        else:
            obj = getattr(obj, part, None)
    return _plain(obj)


def _translate(obj, path: str, be, report: ConversionReport) -> WasmCell | None:
    name = _registry_name(obj)
    entry = REGISTRY.lookup("mindspore", name) if name else None
    if entry is None:
        report.entries.append(ReportEntry(path, name or type(obj).__name__, False, "no wasm translation"))
        return None
    attrs = {key: _attr(obj, key) for key in entry.attrs}
    problem = static_problem(name, attrs)
    if problem:
        report.entries.append(ReportEntry(path, name, False, problem))
        return None
    report.entries.append(ReportEntry(path, name, True))
    return WasmCell(WasmOp(f"{path} ({name})", name, attrs, be))


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


def _convert(cell: nn.Cell, path: str, be, report: ConversionReport, seen: set[type]) -> None:
    for name, child in list(cell._cells.items()):
        if child is None:
            continue
        where = f"{path}.{name}" if path else name
        if _registry_name(child) and type(child).__name__ not in _CONTAINERS:
            wasm = _translate(child, where, be, report)
            if wasm is not None:
                cell._cells[name] = wasm
        else:
            _convert(child, where, be, report, seen)
    if _registry_name(cell):
        return  # MindSpore's containers: no primitives or construct of their own to look at
    for name, prim in list(cell._primitives.items()):
        where = f"{path}.{name}" if path else name
        wasm = _translate(prim, where, be, report)
        if wasm is not None:
            del cell._primitives[name]
            setattr(cell, name, wasm)
    if type(cell) not in seen:
        seen.add(type(cell))
        for expr, reason in _functional_calls(type(cell)):
            report.entries.append(ReportEntry(f"{type(cell).__name__}.construct", expr, False, reason))


def _refresh_lists(cell: nn.Cell) -> None:
    if hasattr(cell, "cell_list"):  # SequentialCell iterates a list copy of its cells
        cell.cell_list = list(cell._cells.values())
    for child in cell._cells.values():
        if child is not None and not isinstance(child, WasmCell):
            _refresh_lists(child)


class WasmNetwork(nn.Cell):
    """The converted network; `wasm_report` says what runs where. Aot kernel failures are re-raised with
    the shim's message. (A top-level construct(*args) keeps MindSpore from ever freeing a compiled
    graph, so `_wrap` picks a subclass with the network's own input count when it can.)"""

    def __init__(self, net, report: ConversionReport, backend_name: str):
        super().__init__(auto_prefix=False)
        self.net = net
        self.wasm_report = report
        self._backend_name = backend_name

    def construct(self, *args):
        return self.net(*args)

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except RuntimeError as exc:
            if self._backend_name == "aot" and "AOT kernel" in str(exc):
                raise RuntimeError(f"wasm kernel failed: {shim().last_error()}") from exc
            raise


class _WasmNetwork1(WasmNetwork):
    def construct(self, a):
        return self.net(a)


class _WasmNetwork2(WasmNetwork):
    def construct(self, a, b):
        return self.net(a, b)


class _WasmNetwork3(WasmNetwork):
    def construct(self, a, b, c):
        return self.net(a, b, c)


class _WasmNetwork4(WasmNetwork):
    def construct(self, a, b, c, d):
        return self.net(a, b, c, d)


_FIXED = {1: _WasmNetwork1, 2: _WasmNetwork2, 3: _WasmNetwork3, 4: _WasmNetwork4}


def _input_count(net) -> int | None:
    """How many inputs net's construct takes, if that is one fixed number."""
    if isinstance(net, WasmCell):
        return net._lo if net._lo == net._hi else None
    try:
        params = list(inspect.signature(net.construct).parameters.values())
    except (AttributeError, TypeError, ValueError):
        return None
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is not p.empty for p in params):
        return None
    return len(params)


def _wrap(net, report: ConversionReport, backend_name: str) -> WasmNetwork:
    return _FIXED.get(_input_count(net), WasmNetwork)(net, report, backend_name)


def to_wasm(cell, backend: str = "pyfunc", strict: bool = False) -> WasmNetwork:
    """A copy of `cell` whose supported layers and primitives run on wasm kernels.

    backend: "pyfunc" (MindSpore calls Python per op) or "aot" (a compiled C shim, no Python per
    op in GRAPH_MODE). strict=True raises UnsupportedError listing what would stay native. The result
    is an inference network (no gradients); its `wasm_report` lists every layer, primitive and
    construct-level call that stayed native, with the reason.
    """
    be = get_backend(backend)
    report = ConversionReport(be.name)
    net = copy.deepcopy(cell)
    if isinstance(net, Primitive) or (_registry_name(net) and type(net).__name__ not in _CONTAINERS):
        net = _translate(net, type(net).__name__, be, report) or net
    else:
        _convert(net, "", be, report, set())
        _refresh_lists(net)
    if strict and report.native:
        raise UnsupportedError(str(report))
    for entry in report.native:
        log.info("stays native: %s: %s (%s)", entry.path, entry.what, entry.reason)
    return _wrap(net, report, be.name)


def export_onnx(cell: nn.Cell, sample):
    """`cell` as an ONNX ModelProto, traced by MindSpore's exporter on `sample` (not exact GELU)."""
    import onnx

    x = sample if isinstance(sample, ms.Tensor) else ms.Tensor(np.asarray(sample))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "model"
        try:
            ms.export(cell, x, file_name=str(base), file_format="ONNX")
        except Exception as exc:  # MindSpore raises RuntimeError / KeyError / ValueError by converter
            raise UnsupportedError(f"MindSpore could not export the network to ONNX: {exc}") from exc
        return onnx.load(str(base) + ".onnx")


def export_to_onnx_session(cell: nn.Cell, sample, runtime=None):
    """The op-by-op route for a whole network: export it to ONNX (export_onnx) and open it in
    wasmops.onnx.InferenceSession."""
    from .onnx_session import InferenceSession

    return InferenceSession(export_onnx(cell, sample), runtime=runtime)


__all__ = ["ConversionReport", "ReportEntry", "WasmNetwork", "export_onnx", "export_to_onnx_session", "to_wasm"]

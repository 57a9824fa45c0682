"""`to_wasm(cell)`: a copy of a MindSpore network whose supported layers and primitives run on wasm.

The network is deep-copied (the original keeps running natively; trained weights are read from the
copy at conversion). Every sub-cell with a registry entry ("nn.Conv2d", ...) and every primitive
attribute of a user cell (self.add = ops.Add()) is replaced by a WasmCell. Everything else stays native
and is listed in the report with the reason: a layer type with no translation, attribute values the
kernels cannot serve, and the calls written directly in a user cell's construct (ops.relu(x), x + y),
which a cell-level conversion cannot reach.
"""

from __future__ import annotations

import copy
import inspect
import logging
import tempfile
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.ops import Primitive

from ..registry.mindspore_ops import static_problem
from ..registry.table import REGISTRY, UnsupportedError
from .mindspore_backend import WasmCell, WasmOp, get_backend
from .mindspore_fuse import Fusion, signature
from .mindspore_report import ConversionReport, ReportEntry, _functional_calls, _graph_entries
from .ms_aot import shim

log = logging.getLogger("wasmops.mindspore")
_CONTAINERS = ("SequentialCell", "CellList", "CellDict")


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


def _container_items(value) -> list[tuple[object, object]]:
    """(key, item) pairs of a plain list / tuple / dict attribute that holds cells or primitives."""
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    if any(isinstance(v, nn.Cell | Primitive) for _, v in items):
        return items
    return []


class _Walk:
    """One conversion pass: every cell or primitive object is converted once, however often it is shared."""

    translate = staticmethod(_translate)  # the training walk (mindspore_train.py) puts its own here

    def __init__(self, be, report: ConversionReport):
        self.be, self.report = be, report
        self.done: dict[int, object] = {}  # id(original object) -> what replaces it (itself if converted in place)
        self.seen_types: set[type] = set()

    def replace(self, obj, path: str):
        """What `obj` (a child cell or primitive) becomes: a WasmCell, or obj itself converted in place."""
        if id(obj) in self.done:
            return self.done[id(obj)]
        self.done[id(obj)] = obj
        if isinstance(obj, Primitive) or (_registry_name(obj) and type(obj).__name__ not in _CONTAINERS):
            wasm = self.translate(obj, path, self.be, self.report)
            if wasm is not None:
                self.done[id(obj)] = wasm
                return wasm
        elif isinstance(obj, nn.Cell) and not isinstance(obj, WasmCell):
            self.cell(obj, path)
        return obj

    def cell(self, cell: nn.Cell, path: str) -> None:
        for name, child in list(cell._cells.items()):
            if child is not None:
                cell._cells[name] = self.replace(child, f"{path}.{name}" if path else name)
        if isinstance(cell, nn.SequentialCell):  # it iterates a list copy of its cells
            cell.cell_list = list(cell._cells.values())
        if _registry_name(cell):
            return  # MindSpore's containers: no primitives or construct of their own to look at
        for name, prim in list(cell._primitives.items()):
            wasm = self.replace(prim, f"{path}.{name}" if path else name)
            if wasm is not prim:
                del cell._primitives[name]
                setattr(cell, name, wasm)
        for name, value in list(vars(cell).items()):  # cells held in plain lists, tuples and dicts
            if isinstance(value, list | tuple | dict) and not name.startswith("_"):
                items = _container_items(value)
                if not items:
                    continue
                new = {k: self.replace(v, f"{path}.{name}.{k}" if path else f"{name}.{k}") for k, v in items}
                if isinstance(value, dict):
                    value.update(new)
                elif isinstance(value, list):
                    value[:] = new.values()
                else:
                    object.__setattr__(cell, name, tuple(new.values()))
        if type(cell) not in self.seen_types:
            self.seen_types.add(type(cell))
            for expr, reason in _functional_calls(type(cell)):
                self.report.entries.append(ReportEntry(f"{type(cell).__name__}.construct", expr, False, reason))


def _copy(cell, share_parameters: bool = False):
    """A deep copy of the network that shares its primitives: some primitives cannot be deep-copied (their
    init_attrs miss required arguments, e.g. ops.LpNorm), and to_wasm never changes a primitive.
    share_parameters: the copy holds the original's Parameter objects (training updates them)."""
    memo: dict[int, object] = {}
    if share_parameters:
        memo.update((id(p), p) for p in cell.get_parameters())
    todo, visited = [cell], set()
    while todo:
        c = todo.pop()
        if id(c) in visited or not isinstance(c, nn.Cell):
            continue
        visited.add(id(c))
        todo.extend(ch for ch in c._cells.values() if ch is not None)
        for value in list(c._primitives.values()) + list(vars(c).values()):
            held = [v for _, v in _container_items(value)] if isinstance(value, list | tuple | dict) else [value]
            memo.update((id(v), v) for v in held if isinstance(v, Primitive))
            todo.extend(v for v in held if isinstance(v, nn.Cell))
    return copy.deepcopy(cell, memo)


class WasmNetwork(nn.Cell):
    """The converted network; `wasm_report` says what runs where. Aot kernel failures are re-raised with
    the shim's message. (A top-level construct(*args) keeps MindSpore from ever freeing a compiled
    graph, so `_wrap` picks a subclass with the network's own input count when it can.)"""

    def __init__(self, net, report: ConversionReport, backend_name: str, fusion: Fusion | None = None):
        super().__init__(auto_prefix=False)
        self.net = net
        self.wasm_report = report
        self._backend_name = backend_name
        self._fusion = fusion
        self._prepared: set[tuple] = set()
        self._layer_paths = [e.path for e in report.wasm]

    def construct(self, *args):
        return self.net(*args)

    def _prepare(self, args) -> None:
        """A new input signature: compile whole cells for it (the first one decides which cells)."""
        if self._fusion is None or not args or not all(isinstance(a, ms.Tensor) for a in args):
            return
        key = signature(args)
        if key in self._prepared:
            return
        first = not self._fusion.decided
        if not self._fusion.prepare(self, args):
            return
        self._prepared.add(key)
        if first and self._fusion.root is not None:
            self.wasm_report.entries = _graph_entries(self._fusion, self._layer_paths)

    def __call__(self, *args, **kwargs):
        self._prepare(args)
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


def _wrap(net, report: ConversionReport, backend_name: str, fusion: Fusion | None) -> WasmNetwork:
    return _FIXED.get(_input_count(net), WasmNetwork)(net, report, backend_name, fusion)


def to_wasm(
    cell, backend: str = "pyfunc", strict: bool = False, whole_cells: bool = True, train: bool = False
) -> WasmNetwork:
    """A copy of `cell` whose supported layers and primitives run on wasm kernels.

    backend: "pyfunc" (MindSpore calls Python per op) or "aot" (a compiled C shim, no Python per
    op in GRAPH_MODE). strict=True raises UnsupportedError listing what would stay native. The result
    is an inference network (no gradients); its `wasm_report` lists every layer, primitive and
    construct-level call that stayed native, with the reason.

    whole_cells=True: at the first call, the largest cells whose compiled graph translates completely
    (construct-level code included) become one wasm program each (bindings/mindspore_fuse.py), and the
    report is rebuilt from the compiled graph: every operation, with FLOPs and the reason it stayed native.

    train=True: a network to train (bindings/mindspore_train.py): it holds `cell`'s own Parameters, fed
    to the kernels as inputs, and every translated layer has a wasm bprop; layer by layer, no whole cells.
    """
    if train:
        from .mindspore_train import to_wasm_train

        return to_wasm_train(cell, backend, strict)
    be = get_backend(backend)
    report = ConversionReport(be.name)
    net = cell if isinstance(cell, Primitive) else _copy(cell)
    if isinstance(net, Primitive) or (_registry_name(net) and type(net).__name__ not in _CONTAINERS):
        net = _translate(net, type(net).__name__, be, report) or net
    else:
        _Walk(be, report).cell(net, "")
    if strict and report.native:
        raise UnsupportedError(str(report))
    for entry in report.native:
        log.info("stays native: %s: %s (%s)", entry.path, entry.what, entry.reason)
    fusion = (
        Fusion(_copy(cell), be) if whole_cells and isinstance(net, nn.Cell) and not isinstance(net, WasmCell) else None
    )
    return _wrap(net, report, be.name, fusion)


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

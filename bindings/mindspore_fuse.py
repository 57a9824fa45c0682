"""Whole cells on wasm: the largest cells of a network whose compiled graph translates completely.

At a converted network's first call, its native twin runs once in PyNative with hooks that record every
cell's input shapes. Then, from the root down, each cell is compiled by MindSpore for those shapes
(mindspore_graph.export_graph) and translated node by node: a cell whose every node translates becomes one
GraphWasmOp (one wasm program per input signature, construct-level code included); a cell that holds an
untranslatable node stays as it is (its layers already on wasm one by one) and its sub-cells are tried.
The report is then rebuilt from the root graph: each node, where it ran, its FLOPs, and why not wasm.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn

from ..registry.graph import GraphBuilder
from ..registry.table import UnsupportedError
from .mindspore_backend import WasmCell, WasmOp, _Backend, _np_dtype
from .mindspore_graph import GraphTranslation, export_graph, translate_graph

try:
    from mindspore.context import _get_mode
except ImportError:  # pragma: no cover

    def _get_mode():
        return ms.get_context("mode")


def signature(args) -> tuple:
    return tuple((tuple(a.shape), _np_dtype(a.dtype, "input")) for a in args)


class GraphWasmOp(WasmOp):
    """A whole cell on wasm: one program per input signature, built from the cell's compiled graph."""

    def __init__(self, label: str, cell: nn.Cell, n_inputs: int, backend: _Backend, prefix: str):
        self.label, self.name, self.attrs, self.backend = label, "graph", {}, backend
        self.entry = None
        self.cell, self.n, self.prefix = cell, n_inputs, prefix
        self.variants = []
        self._programs = []
        backend.track(self, self._programs)

    def arities(self) -> tuple[int, int]:
        return self.n, self.n

    def build(self, args) -> GraphTranslation:
        """Compile the cell for these inputs; add the program when every node translates."""
        sig = tuple((shape, dtype, None) for shape, dtype in signature(args))
        g = GraphBuilder()
        tr = translate_graph(export_graph(self.cell, args), g, self.prefix)
        if tr.output is not None and self.find(sig) is None:
            if not hasattr(tr.output, "buffer") or len(tr.inputs) != len(sig):
                tr.output = None  # a tuple output, or a constant one: the cell stays native
            else:
                self.add_variant(sig, g, dict(enumerate(tr.inputs)), tr.output)
        return tr

    def variant(self, sig: tuple) -> object:
        found = self.find(sig)
        if found is None:
            shapes = [s for s, _, _ in sig]
            raise UnsupportedError(
                f"{self.label}: no wasm program for inputs {shapes}; it is built when the converted network "
                "is called with them"
            )
        return found


def record_inputs(native: nn.Cell, args) -> dict[str, list[tuple]]:
    """Every cell's tensor inputs in one native PyNative run (paths as in cells_and_names)."""
    seen: dict[str, list[tuple]] = {}
    handles = []
    for path, cell in native.cells_and_names():

        def hook(cell, inputs, path=path):
            if inputs and all(isinstance(a, Tensor) for a in inputs):
                calls = seen.setdefault(path, [])
                if all(signature(c) != signature(inputs) for c in calls):
                    calls.append(tuple(Tensor(np.zeros(a.shape, _np_dtype(a.dtype, path))) for a in inputs))

        handles.append(cell.register_forward_pre_hook(hook))
    mode = _get_mode()
    try:
        ms.set_context(mode=ms.PYNATIVE_MODE)
        native(*args)
    finally:
        ms.set_context(mode=mode)
        for h in handles:
            h.remove()
    return seen


def _child(cell: nn.Cell, path: str) -> nn.Cell | None:
    for part in path.split(".") if path else []:
        cell = cell._cells.get(part) if cell is not None else None
    return cell


def _replace(root: nn.Cell, path: str, new: nn.Cell) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = _child(root, parent_path)
    parent._cells[name] = new
    if isinstance(parent, nn.SequentialCell):
        parent.cell_list = list(parent._cells.values())


class Fusion:
    """The fusion state of one converted network: which cells run whole, and the root graph for the report."""

    def __init__(self, native: nn.Cell, backend: _Backend):
        self.native, self.backend = native, backend
        self.fused: dict[str, GraphWasmOp] = {}
        self.root: GraphTranslation | None = None
        self.decided = False

    def prepare(self, converted_holder, args) -> bool:
        """Before a call with a new input signature: decide (first time) or extend the fused cells.
        False if the network itself refuses these inputs natively (the layer-level path then names the
        layer and the problem)."""
        try:
            calls = record_inputs(self.native, args)
        except (TypeError, ValueError, RuntimeError):
            return False
        if not self.decided:
            self.decided = True
            self._decide(converted_holder, calls)
            return True
        for path, op in self.fused.items():
            for inputs in calls.get(path, []):
                if op.find(tuple((s, d, None) for s, d in signature(inputs))) is None:
                    tr = op.build(inputs)
                    if tr.output is None:
                        why = "; ".join(f"{n.path}: {n.prim}: {n.problem}" for n in tr.problems) or "tuple output"
                        raise UnsupportedError(f"{op.label}: for inputs {signature(inputs)}: {why}")
        return True

    def _decide(self, holder, calls: dict[str, list[tuple]]) -> None:
        todo = [""]
        while todo:
            path = todo.pop(0)
            cell = _child(self.native, path)
            converted = holder.net if not path else _child(holder.net, path)
            if cell is None or converted is None or isinstance(converted, WasmCell):
                continue
            children = [f"{path}.{name}" if path else name for name, c in cell._cells.items() if c is not None]
            if path not in calls:  # never called with tensors only (or not at all): try its sub-cells
                todo.extend(children)
                continue
            label = f"{path or type(cell).__name__} (whole cell)"
            op = GraphWasmOp(label, cell, len(calls[path][0]), self.backend, path)
            ok = True
            for inputs in calls[path]:
                try:
                    tr = op.build(inputs)
                except UnsupportedError:
                    ok = False
                    break
                if path == "" and self.root is None:
                    self.root = tr
                ok = ok and tr.output is not None
                if not ok:
                    break
            if ok:
                self.fused[path] = op
                wasm = WasmCell(op)
                if path:
                    _replace(holder.net, path, wasm)
                else:
                    holder.net = wasm
                continue
            todo.extend(children)

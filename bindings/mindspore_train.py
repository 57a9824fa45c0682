"""`to_wasm(net, train=True)`: a network that trains on wasm kernels under mindspore.value_and_grad.

Each translated layer (registry/mindspore_train.py) becomes a WasmTrainCell: its forward is a WasmCustom
fed the input and the layer's own Parameter objects (never copies, never constants), and that Custom op
carries a bprop made of one gradient Custom per differentiable input, each fed only the tensors its
translator names (the layer's inputs and parameters, `out`, `dout`). MindSpore's autodiff then routes
the gradients to the Parameters, so its optimisers (or wasmops.mindspore_optim) update them in place.
A layer or primitive with no training translation stays native and differentiates the MindSpore way; the
report lists it. Training mode converts layer by layer (no whole-cell programs).
"""

from __future__ import annotations

from mindspore import Parameter, ParameterTuple, nn, ops
from mindspore.ops import Primitive

from ..registry.mindspore_train import LAYERS, TRAIN, feeds, train_problem
from .mindspore_backend import WasmOp, get_backend
from .mindspore_convert import _attr, _copy, _registry_name, _Walk, _wrap
from .mindspore_report import ConversionReport, ReportEntry


# ---- gradient plumbing: each gradient Custom picks its tensors from bprop's (*inputs, out, dout) -------
class _Pick1(nn.Cell):
    def __init__(self, op, idx):
        super().__init__(auto_prefix=False)
        self.op, self.i0 = op, idx[0]

    def construct(self, args):
        return self.op(args[self.i0])


class _Pick2(_Pick1):
    def __init__(self, op, idx):
        super().__init__(op, idx)
        self.i1 = idx[1]

    def construct(self, args):
        return self.op(args[self.i0], args[self.i1])


class _Pick3(_Pick2):
    def __init__(self, op, idx):
        super().__init__(op, idx)
        self.i2 = idx[2]

    def construct(self, args):
        return self.op(args[self.i0], args[self.i1], args[self.i2])


class _Pick4(_Pick3):
    def __init__(self, op, idx):
        super().__init__(op, idx)
        self.i3 = idx[3]

    def construct(self, args):
        return self.op(args[self.i0], args[self.i1], args[self.i2], args[self.i3])


class _Zeros(nn.Cell):
    """The gradient of an input that has none (sparse int labels)."""

    def __init__(self, idx: int):
        super().__init__(auto_prefix=False)
        self.i0 = idx

    def construct(self, args):
        return ops.zeros_like(args[self.i0])


_PICKS = {1: _Pick1, 2: _Pick2, 3: _Pick3, 4: _Pick4}


class _Grads(nn.Cell):
    """All input gradients of one layer, from bprop's argument tuple."""

    def __init__(self, picks: list[nn.Cell]):
        super().__init__(auto_prefix=False)
        self.picks = nn.CellList(picks)

    def construct(self, args):
        grads = ()
        for pick in self.picks:
            grads = grads + (pick(args),)
        return grads


def _bprop(grads: _Grads, n: int):
    """bprop for a Custom of n inputs: GRAPH_MODE wants named `out` and `dout`, so one def per arity."""
    if n == 1:

        def bprop(a, out, dout):
            return grads((a, out, dout))
    elif n == 2:

        def bprop(a, b, out, dout):
            return grads((a, b, out, dout))
    elif n == 3:

        def bprop(a, b, c, out, dout):
            return grads((a, b, c, out, dout))
    elif n == 4:

        def bprop(a, b, c, d, out, dout):
            return grads((a, b, c, d, out, dout))
    else:
        raise ValueError(f"a trainable layer takes 1 to 4 tensors, not {n}")
    return bprop


# ---- the layer cells ----------------------------------------------------------------------------------------
def runtime_custom(be, label: str, key: str, attrs: dict, total: int):
    """A Custom op for training translation `key`: every input a run-time tensor, own aot slot."""
    op = WasmOp(label, key, attrs, be, frontend=TRAIN)
    custom = be.make_op(op, total, {}, be.new_slot(op))
    custom.runtime_inputs = True
    return custom


class WasmTrainCell(nn.Cell):
    """One layer on wasm for training: forward(inputs, Parameters) with a bprop of wasm gradients."""

    def __init__(self, name: str, cell: nn.Cell, path: str, be):
        super().__init__(auto_prefix=False)
        layer = LAYERS[name]
        self.attrs = {key: _attr(cell, key) for key in layer.attrs}
        present = [p for p in layer.params if isinstance(getattr(cell, p, None), Parameter)]
        self.weights = ParameterTuple([getattr(cell, p) for p in present])
        names = list(layer.inputs) + present
        label = f"{path} ({name})"
        self.fwd = runtime_custom(be, label, name, self.attrs, len(names))
        picks, self.wasm_grads, self.zero_grads = [], [], []
        args = names + ["out", "dout"]
        for wrt in names:
            key = layer.grads.get(wrt)
            if key is None or wrt in layer.no_grad(self.attrs):
                picks.append(_Zeros(names.index(wrt)))
                self.zero_grads.append(wrt)
                continue
            wanted = [n for n, optional in feeds(_translator(key)) if n in args or not optional]
            missing = [n for n in wanted if n not in args]
            if missing:
                raise ValueError(f"{label}: the gradient for {wrt} needs {missing}, which this layer does not have")
            op = runtime_custom(be, f"{label} d/d{wrt}", key, self.attrs, len(wanted))
            picks.append(_PICKS[len(wanted)](op, [args.index(n) for n in wanted]))
            self.wasm_grads.append(wrt)
        self.grads = _Grads(picks)
        self.fwd.bprop = _bprop(self.grads, len(names))
        self._label = label

    def construct(self, *inputs):
        return self.fwd(*inputs, *self.weights)

    def extend_repr(self) -> str:
        return f"{self._label}, wasm gradients for {', '.join(self.wasm_grads) or 'nothing'}"


def _translator(key: str):
    from ..registry.table import REGISTRY

    return REGISTRY.lookup(TRAIN, key).translate


class WasmBatchNormCell(WasmTrainCell):
    """BatchNorm: batch statistics in training mode (updating the running ones), running ones in eval."""

    def __init__(self, name: str, cell: nn.Cell, path: str, be):
        super().__init__(name, cell, path, be)
        self.moving_mean, self.moving_variance = cell.moving_mean, cell.moving_variance
        self.eval_fwd = runtime_custom(be, f"{path} ({name}, eval)", f"{name}:eval", self.attrs, 5)
        self.stats = runtime_custom(be, f"{path} ({name}, running statistics)", f"{name}:stats", self.attrs, 3)
        self.use_batch_statistics = cell.use_batch_statistics

    def construct(self, x):
        batch = self.training if self.use_batch_statistics is None else self.use_batch_statistics
        if batch:
            new = self.stats(ops.stop_gradient(x), self.moving_mean, self.moving_variance)
            ops.assign(self.moving_mean, new[0])
            ops.assign(self.moving_variance, new[1])
            return self.fwd(x, self.weights[0], self.weights[1])
        return self.eval_fwd(x, self.weights[0], self.weights[1], self.moving_mean, self.moving_variance)


def _translate_train(obj, path: str, be, report: ConversionReport):
    """What replaces one layer in training mode, or None (it stays native; the report says why)."""
    name = _registry_name(obj)
    if isinstance(obj, Primitive) or name is None:
        what = name or type(obj).__name__
        report.entries.append(ReportEntry(path, what, False, "training mode converts nn layers only"))
        return None
    problem = train_problem(name, {key: _attr(obj, key) for key in LAYERS[name].attrs} if name in LAYERS else {})
    if problem:
        report.entries.append(ReportEntry(path, name, False, problem + "; MindSpore computes it and its gradient"))
        return None
    cls = WasmBatchNormCell if LAYERS[name].buffers else WasmTrainCell
    cell = cls(name, obj, path, be)
    note = f"wasm gradients: {', '.join(cell.wasm_grads)}" if cell.wasm_grads else ""
    if cell.zero_grads:
        note += f"; no gradient (zeros): {', '.join(cell.zero_grads)}"
    report.entries.append(ReportEntry(path, name, True, note.strip("; ")))
    return cell


class _TrainWalk(_Walk):
    translate = staticmethod(_translate_train)


def to_wasm_train(cell: nn.Cell, backend: str = "pyfunc", strict: bool = False):
    """See to_wasm(train=True)."""
    from ..registry.table import UnsupportedError

    be = get_backend(backend)
    report = ConversionReport(be.name)
    net = _copy(cell, share_parameters=True)
    name = _registry_name(net)
    if name and type(net).__name__ not in ("SequentialCell", "CellList", "CellDict"):
        net = _translate_train(net, type(net).__name__, be, report) or net
    else:
        _TrainWalk(be, report).cell(net, "")
    if strict and report.native:
        raise UnsupportedError(str(report))
    net.set_train(cell.training)
    return _wrap(net, report, be.name, None)

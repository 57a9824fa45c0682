"""The ONNX frontend: control flow (If, Loop, Scan), run on the host while the program is translated.

Programs are specialised per input shapes (and per value of inputs used as attributes), so control flow
whose decisions are known then is unrolled into one straight program: If translates the branch its
condition picks, Loop and Scan translate their body once per iteration, inline, over the enclosing scope.
A condition or trip count computed from tensor values at run time is refused, naming the node.
"""

from __future__ import annotations

import numpy as np
import onnx

from . import dtypes
from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, _const, onnx_op

#: iterations a Loop may unroll into one program
MAX_ITERATIONS = 4096


def _body(g: GraphBuilder, graph: onnx.GraphProto, bound: dict) -> list:
    label = g.label
    try:
        return g.subgraph(graph, bound)
    finally:
        g.label = label


@onnx_op(F, "If", 1, ("then_branch", "else_branch"))
def if_(g: GraphBuilder, a: dict, cond):
    flag = np.asarray(_const(g.label, cond, "If cond"))
    if flag.size != 1:
        raise AttributeError_(f"{g.label}: If cond must have one element, got shape {flag.shape}")
    return _body(g, a["then_branch"] if bool(flag.reshape(-1)[0]) else a["else_branch"], {})


def _stack(g: GraphBuilder, values: list, axis: int = 0):
    """Stack per-iteration values along a new `axis` (constants fold with numpy)."""
    if all(is_const(v) for v in values):
        return np.stack([np.asarray(v) for v in values], axis=axis)
    parts = []
    for v in values:
        if is_const(v):
            v = dtypes.to_compute(np.asarray(v), f"{g.label}: scan output")
        rank = len(v.shape) + 1
        ax = axis % rank
        parts.append(v.reshape(tuple(v.shape[:ax]) + (1,) + tuple(v.shape[ax:])))
    return g.op("concatenate", parts, axis=axis % (len(values[0].shape) + 1))


def _element(g: GraphBuilder, x, axis: int, index: int):
    """x[..., index, ...] along `axis`, the axis dropped."""
    axis %= len(x.shape)
    if is_const(x):
        return np.take(np.asarray(x), index, axis=axis)
    part = g.op("slice", x, [index], [index + 1], axes=[axis])
    return part.reshape(tuple(d for i, d in enumerate(x.shape) if i != axis))


@onnx_op(F, "Loop", 1, ("body",))
def loop(g: GraphBuilder, a: dict, trip=None, cond=None, *initial):
    body: onnx.GraphProto = a["body"]
    names = [vi.name for vi in body.input]
    n_carried = len(initial)
    limit = None if trip is None else int(np.asarray(_const(g.label, trip, "Loop trip count")).reshape(-1)[0])
    go = True if cond is None else bool(np.asarray(_const(g.label, cond, "Loop cond")).reshape(-1)[0])
    carried, scans, i = list(initial), None, 0
    while go and (limit is None or i < limit):
        if i >= MAX_ITERATIONS:
            raise AttributeError_(f"{g.label}: Loop runs more than {MAX_ITERATIONS} iterations")
        bound = {names[0]: np.asarray(i, np.int64), names[1]: np.asarray(go)}
        bound.update(zip(names[2:], carried, strict=True))
        outs = _body(g, body, bound)
        go = bool(np.asarray(_const(g.label, outs[0], "Loop condition (computed by the body)")).reshape(-1)[0])
        carried = outs[1 : 1 + n_carried]
        step_scans = outs[1 + n_carried :]
        scans = [[] for _ in step_scans] if scans is None else scans
        for acc, v in zip(scans, step_scans, strict=True):
            acc.append(v)
        i += 1
    g.trips[g.label] = i  # a whole-graph compile unrolls the Loop node that many times (bindings/graph_static.py)
    n_scans = len(body.output) - 1 - n_carried
    if n_scans and not scans:
        raise AttributeError_(f"{g.label}: Loop ran zero iterations; its scan outputs have no known shape")
    return carried + [_stack(g, acc) for acc in (scans or [])]


@onnx_op(
    F,
    "Scan",
    9,
    (
        "body",
        "num_scan_inputs",
        "scan_input_axes",
        "scan_input_directions",
        "scan_output_axes",
        "scan_output_directions",
    ),
)
def scan(g: GraphBuilder, a: dict, *inputs):
    body: onnx.GraphProto = a["body"]
    k = int(a["num_scan_inputs"])
    states, xs = list(inputs[: len(inputs) - k]), inputs[len(inputs) - k :]
    in_axes = list(a.get("scan_input_axes", [0] * k))
    in_dirs = list(a.get("scan_input_directions", [0] * k))
    n_out = len(body.output) - len(states)
    out_axes = list(a.get("scan_output_axes", [0] * n_out))
    out_dirs = list(a.get("scan_output_directions", [0] * n_out))
    lengths = {x.shape[ax % len(x.shape)] for x, ax in zip(xs, in_axes, strict=True)}
    if len(lengths) != 1:
        raise AttributeError_(f"{g.label}: Scan inputs have different sequence lengths {sorted(lengths)}")
    (length,) = lengths
    names = [vi.name for vi in body.input]
    outs_per_step: list[list] = [[] for _ in range(n_out)]
    for t in range(length):
        bound = dict(zip(names, states, strict=False))
        for name, x, ax, rev in zip(names[len(states) :], xs, in_axes, in_dirs, strict=True):
            bound[name] = _element(g, x, ax, length - 1 - t if rev else t)
        outs = _body(g, body, bound)
        states = outs[: len(states)]
        for acc, v in zip(outs_per_step, outs[len(states) :], strict=True):
            acc.append(v)
    if n_out and length == 0:
        raise AttributeError_(f"{g.label}: Scan over a sequence of length 0 has no known output shape")
    stacked = [
        _stack(g, acc[::-1] if rev else acc, ax) for acc, ax, rev in zip(outs_per_step, out_axes, out_dirs, strict=True)
    ]
    return states + stacked


@onnx_op(F, "Scan", 8, ("body", "num_scan_inputs", "directions"))
def scan_v8(g: GraphBuilder, a: dict, sequence_lens=None, *inputs):
    """Opset 8: batch axis 0, scan axis 1; the body sees one batch entry. Each entry unrolls on its own, and
    the per-entry results stack back along the batch axis. Variable sequence lengths are refused."""
    body: onnx.GraphProto = a["body"]
    k = int(a["num_scan_inputs"])
    states, xs = list(inputs[: len(inputs) - k]), inputs[len(inputs) - k :]
    dirs = list(a.get("directions", [0] * k))
    if not xs or any(len(x.shape) < 2 for x in xs) or len({(x.shape[0], x.shape[1]) for x in xs}) != 1:
        raise AttributeError_(
            f"{g.label}: Scan scan inputs must share (batch, sequence) dims, got {[x.shape for x in xs]}"
        )
    batch, length = xs[0].shape[0], xs[0].shape[1]
    if sequence_lens is not None:
        lens = np.asarray(_const(g.label, sequence_lens, "Scan sequence_lens")).reshape(-1)
        if lens.size != batch or (lens != length).any():
            raise AttributeError_(
                f"{g.label}: Scan sequence_lens {lens.tolist()} shorter than {length} are not supported"
            )
    if length == 0:
        raise AttributeError_(f"{g.label}: Scan over a sequence of length 0 has no known output shape")
    names = [vi.name for vi in body.input]
    n_out = len(body.output) - len(states)
    per_batch = []
    for b in range(batch):
        carried = [_element(g, s, 0, b) for s in states]
        seqs = [_element(g, x, 0, b) for x in xs]
        outs_per_step: list[list] = [[] for _ in range(n_out)]
        for t in range(length):
            bound = dict(zip(names, carried, strict=False))
            for name, x, rev in zip(names[len(states) :], seqs, dirs, strict=True):
                bound[name] = _element(g, x, 0, length - 1 - t if rev else t)
            outs = _body(g, body, bound)
            carried = outs[: len(states)]
            for acc, v in zip(outs_per_step, outs[len(states) :], strict=True):
                acc.append(v)
        per_batch.append(carried + [_stack(g, acc) for acc in outs_per_step])
    return [_stack(g, [entry[i] for entry in per_batch]) for i in range(len(per_batch[0]))]

"""Whole graphs: ONNX LSTM, GRU and RNN nodes unrolled into plain ONNX ops that TVM's Relax importer knows.

Relax's ONNX frontend has no recurrent converters, so before import each such node becomes, per direction,
one MatMul projecting every time step's input at once (X W^T + Wb + Rb, W transposed here in numpy), then
per step only h R^T, an Add and the gate activations on Slices of the gate block. Constant weights stay
constants, so Relax packs them like any dense layer. Constant `sequence_lens` shorter than the sequence
become per-step masks (Where): a finished batch entry holds its state and writes zeros to Y, which also
makes a reverse pass start at each entry's own last step. Every dim must be static: the caller fixes
symbolic input dims first. Knows nothing of registry/ or bindings/ (the op-by-op path has its own
translation, registry/onnx_recurrent.py).
"""

from __future__ import annotations

import numpy as np
import onnx

from .graph_compiler import GraphCompileError
from .onnx_emitter import OnnxEmitter
from .onnx_recurrent_layer import DTYPES, GraphInfo, Layer, consumed


# ---- the three cells -----------------------------------------------------------------------------------
def _rnn(layer: Layer) -> None:
    """Ht = f(Xt W^T + Ht-1 R^T + Wb + Rb)."""
    e = layer.e
    ys, finals = [], []
    for d in range(len(layer.reverse)):
        wb, rb = layer.biases(d)
        xw, rt, h = layer.projections(d, e.binary("Add", wb, rb)), layer.weight_t(2, d), layer.state(5, d)
        y = {}
        for t in layer.order(d):
            new = layer.activate(layer.acts[d][0], e.binary("Add", xw[t], e.binary("MatMul", h, rt)))
            y[t], h = layer.emitted(t, new), layer.keep(t, new, h)
        ys.append(y)
        finals.append(h)
    layer.finish(ys, [finals])


def _gru(layer: Layer) -> None:
    """zt, rt = f(Xt W[zr]^T + Ht-1 R[zr]^T + biases); ht = g(Xt Wh^T + (rt Ht-1) Rh^T + Rbh + Wbh)
    (linear_before_reset: rt (Ht-1 Rh^T + Rbh)); Ht = (1 - zt) ht + zt Ht-1."""
    e, hid = layer.e, layer.hidden
    before_reset = int(layer.attrs.get("linear_before_reset", 0))
    zr_part = np.concatenate([np.ones(2 * hid), np.zeros(hid)]).astype(e.dtype)
    ys, finals = [], []
    for d in range(len(layer.reverse)):
        f_act, g_act = layer.acts[d]
        wb, rb = layer.biases(d)
        # Rbh joins the input projection unless it sits inside rt's product (linear_before_reset)
        x_bias = e.binary("Add", wb, e.binary("Mul", rb, zr_part) if before_reset else rb)
        recur_bias = e.binary("Mul", rb, 1 - zr_part)
        xw, rt, h = layer.projections(d, x_bias), layer.weight_t(2, d), layer.state(5, d)
        rt_zr, rt_h = e.slice(rt, 1, 0, 2 * hid), e.slice(rt, 1, 2 * hid, 3 * hid)
        y = {}
        for t in layer.order(d):
            x_zr, x_h = e.slice(xw[t], 1, 0, 2 * hid), e.slice(xw[t], 1, 2 * hid, 3 * hid)
            if before_reset:
                hr = e.binary("Add", e.binary("MatMul", h, rt), recur_bias)
                zr = layer.activate(f_act, e.binary("Add", x_zr, e.slice(hr, 1, 0, 2 * hid)))
                reset = e.binary("Mul", e.slice(zr, 1, hid, 2 * hid), e.slice(hr, 1, 2 * hid, 3 * hid))
            else:
                zr = layer.activate(f_act, e.binary("Add", x_zr, e.binary("MatMul", h, rt_zr)))
                reset = e.binary("MatMul", e.binary("Mul", e.slice(zr, 1, hid, 2 * hid), h), rt_h)
            cand = layer.activate(g_act, e.binary("Add", x_h, reset))
            z = e.slice(zr, 1, 0, hid)
            new = e.binary("Add", cand, e.binary("Mul", z, e.binary("Sub", h, cand)))  # (1 - z) ht + z Ht-1
            y[t], h = layer.emitted(t, new), layer.keep(t, new, h)
        ys.append(y)
        finals.append(h)
    layer.finish(ys, [finals])


def _lstm(layer: Layer) -> None:
    """Gates i, o, f, c: it, ft = f(Xt W^T + Ht-1 R^T + biases + P * Ct-1); ct = g(...); Ct = ft Ct-1 + it ct;
    ot = f(... + Po Ct); Ht = ot h(Ct). input_forget couples ft = 1 - it."""
    e, hid = layer.e, layer.hidden
    couple = int(layer.attrs.get("input_forget", 0))
    ys, finals_h, finals_c = [], [], []
    for d in range(len(layer.reverse)):
        f_act, g_act, h_act = layer.acts[d]
        wb, rb = layer.biases(d)
        xw, rt = layer.projections(d, e.binary("Add", wb, rb)), layer.weight_t(2, d)
        p = layer.values.get(7)
        peep = None if p is None else [e.slice(e.take(p, 0, d), 0, j * hid, (j + 1) * hid) for j in range(3)]
        h, c = layer.state(5, d), layer.state(6, d)
        y = {}
        for t in layer.order(d):
            gates = e.binary("Add", xw[t], e.binary("MatMul", h, rt))
            pre_i, pre_o = e.slice(gates, 1, 0, hid), e.slice(gates, 1, hid, 2 * hid)
            pre_f, pre_c = e.slice(gates, 1, 2 * hid, 3 * hid), e.slice(gates, 1, 3 * hid, 4 * hid)
            if peep is not None:
                pre_i = e.binary("Add", pre_i, e.binary("Mul", peep[0], c))
                pre_f = e.binary("Add", pre_f, e.binary("Mul", peep[2], c))
            i = layer.activate(f_act, pre_i)
            f = e.binary("Sub", e.scalar(1), i) if couple else layer.activate(f_act, pre_f)
            c_new = e.binary("Add", e.binary("Mul", f, c), e.binary("Mul", i, layer.activate(g_act, pre_c)))
            if peep is not None:
                pre_o = e.binary("Add", pre_o, e.binary("Mul", peep[1], c_new))
            h_new = e.binary("Mul", layer.activate(f_act, pre_o), layer.activate(h_act, c_new, clip=False))
            y[t], h, c = layer.emitted(t, h_new), layer.keep(t, h_new, h), layer.keep(t, c_new, c)
        ys.append(y)
        finals_h.append(h)
        finals_c.append(c)
    layer.finish(ys, [finals_h, finals_c])


_CELLS = {"RNN": _rnn, "GRU": _gru, "LSTM": _lstm}


def expand_recurrent(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every LSTM / GRU / RNN node of the main graph unrolled into standard ops (a copy; `model` itself when
    there is none). Raises GraphCompileError naming the node for what cannot be unrolled statically."""
    if not any(n.op_type in _CELLS and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    info = GraphInfo(model)
    nodes, replaced = [], set()
    for node in model.graph.node:
        if node.op_type not in _CELLS or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        if opset < 7:
            raise GraphCompileError(f"{node.op_type} node {node.name!r}: opset {opset} < 7 is not supported")
        elem = info.tensor_type(node.input[0])[0]
        e = OnnxEmitter(info.taken, opset, DTYPES.get(elem, np.float32))
        e.prefix = node.name or next((o for o in node.output if o), node.op_type)
        _CELLS[node.op_type](Layer(e, node, info))
        replaced.update(node.input)
        nodes.extend(e.nodes)
        model.graph.initializer.extend(e.inits)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    # the recurrent nodes' weights, now transposed and sliced copies, unless something else reads them
    read = set(consumed(model.graph)) | {o.name for o in model.graph.output}
    dropped = {t.name for t in model.graph.initializer if t.name in replaced and t.name not in read}
    for field in (model.graph.initializer, model.graph.input):  # old models list initializers as inputs too
        kept = [t for t in field if t.name not in dropped]
        del field[:]
        field.extend(kept)
    return model


__all__ = ["expand_recurrent"]

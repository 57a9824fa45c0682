"""The ONNX frontend, recurrent layers: LSTM, GRU and RNN, unrolled over the fed sequence length.

No kernel of their own: per direction, the input projections of every time step are one `dense`
(X (T*B, I) @ W^T + biases; a constant W is packed once at load), then each step is the recurrent `dense`
on the previous hidden state, an add and the gate activations (sigmoid / tanh / relu / ... ops), slicing
the gates apart with `slice`. `sequence_lens` shorter than the sequence become per-step masks (`where`):
a finished batch entry keeps its state and writes zeros to Y, so forward and reverse directions both
follow ONNX (a reverse pass starts at each entry's own last step because earlier steps are masked).
"""

from __future__ import annotations

import numpy as np

from ..kernels.recurrent_spec import RECURRENT_ACTIVATIONS as _ACTIVATIONS
from .graph import GraphBuilder, Value, is_const
from .onnx_ops import AttributeError_, F, onnx_op

_COMMON = (
    "activation_alpha",
    "activation_beta",
    "activations",
    "clip",
    "direction",
    "hidden_size",
    "layout",
)


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _activations(g: GraphBuilder, a: dict, defaults: list[str], directions: int) -> list[list]:
    """Per direction, the activation functions as (name, alpha, beta), alpha / beta consumed in order."""
    names = [_str(n).lower() for n in a.get("activations", [])] or [d.lower() for d in defaults] * directions
    if len(names) != len(defaults) * directions:
        raise AttributeError_(
            f"{g.label}: activations {names} must list {len(defaults)} functions per direction ({directions})"
        )
    alphas, betas = list(a.get("activation_alpha", [])), list(a.get("activation_beta", []))
    out = []
    for name in names:
        if name not in _ACTIVATIONS:
            raise AttributeError_(f"{g.label}: activation {name!r} is not supported; supported: {sorted(_ACTIVATIONS)}")
        uses_a, uses_b, alpha, beta = _ACTIVATIONS[name]
        if uses_a and alphas:
            alpha = float(alphas.pop(0))
        if uses_b and betas:
            beta = float(betas.pop(0))
        if (uses_a and alpha is None) or (uses_b and beta is None):
            raise AttributeError_(f"{g.label}: activation {name!r} needs activation_alpha / activation_beta values")
        out.append((name, alpha, beta))
    if alphas or betas:
        raise AttributeError_(f"{g.label}: more activation_alpha / activation_beta values than activations use")
    k = len(defaults)
    return [out[d * k : (d + 1) * k] for d in range(directions)]


def _activate(g: GraphBuilder, fn: tuple, x: Value, clip: float | None) -> Value:
    name, alpha, beta = fn
    if clip is not None:
        x = g.op("clip", x, min=-clip, max=clip)
    if name in ("relu", "tanh", "sigmoid", "softplus"):
        return g.op(name, x)
    if name == "leakyrelu":
        return g.op("leaky_relu", x, alpha=alpha)
    if name == "elu":
        return g.op("elu", x, alpha=alpha)
    if name == "softsign":
        return g.op("divide", x, g.op("add", g.op("abs", x), np.float32(1)))
    if name == "thresholdedrelu":
        return g.op("where", g.op("greater", x, np.float32(alpha)), x, np.float32(0))
    if name == "scaledtanh":
        return g.op("multiply", g.op("tanh", g.op("multiply", x, np.float32(beta))), np.float32(alpha))
    y = g.op("add", g.op("multiply", x, np.float32(alpha)), np.float32(beta))  # affine, hardsigmoid
    return g.op("clip", y, min=0.0, max=1.0) if name == "hardsigmoid" else y


def _cols(g: GraphBuilder, x: Value, start: int, stop: int) -> Value:
    """x[..., start:stop] of a (rows, width) tensor."""
    return g.op("slice", x, [start], [stop], axes=[len(x.shape) - 1])


def _part(g: GraphBuilder, x: Value | None, d: int) -> Value | None:
    """x[d] of a per-direction (D, ...) input."""
    if x is None:
        return None
    return g.op("slice", x, [d], [d + 1], axes=[0]).reshape(tuple(x.shape[1:]))


class _Setup:
    """What every recurrent layer shares: shapes, layout, direction, sequence masks and initial states."""

    def __init__(self, g: GraphBuilder, a: dict, op: str, gates: int, x, w, r, seq_lens, init_h):
        self.g, self.op = g, op
        self.layout = int(a.get("layout", 0))
        if self.layout not in (0, 1):
            raise AttributeError_(f"{g.label}: {op} layout {self.layout} is not supported (0 or 1)")
        direction = _str(a.get("direction", "forward"))
        if direction not in ("forward", "reverse", "bidirectional"):
            raise AttributeError_(f"{g.label}: {op} direction {direction!r} is not supported")
        self.reverse = [direction == "reverse"] if direction != "bidirectional" else [False, True]
        if len(x.shape) != 3 or len(w.shape) != 3 or len(r.shape) != 3:
            raise AttributeError_(f"{g.label}: {op} X, W and R must be 3-D, got {x.shape}, {w.shape}, {r.shape}")
        if self.layout == 1:
            x = g.op("transpose", x, (1, 0, 2))
        self.x = x
        self.steps, self.batch, inputs = (int(v) for v in x.shape)
        hidden = int(a.get("hidden_size", r.shape[-1]))
        self.hidden, d = hidden, len(self.reverse)
        if tuple(w.shape) != (d, gates * hidden, inputs) or tuple(r.shape) != (d, gates * hidden, hidden):
            raise AttributeError_(
                f"{g.label}: {op} W {w.shape} / R {r.shape} do not match {d} direction(s), hidden_size {hidden} "
                f"and input size {inputs}"
            )
        if self.steps == 0:
            raise AttributeError_(f"{g.label}: {op} with an empty sequence (seq_length 0) is not supported")
        clip = a.get("clip")
        self.clip = None if clip is None else float(clip)
        self.masks = self._masks(seq_lens)
        self.init_h = self.state(init_h, "initial_h")

    def _masks(self, seq_lens) -> list | None:
        """Per step t, a (B, 1) bool mask `t < sequence_lens` (None when every entry runs the whole sequence)."""
        g = self.g
        if seq_lens is None:
            return None
        if tuple(seq_lens.shape) != (self.batch,):
            raise AttributeError_(f"{g.label}: {self.op} sequence_lens has shape {seq_lens.shape}, not ({self.batch},)")
        if is_const(seq_lens):
            lens = np.asarray(seq_lens).astype(np.int64)
            if lens.min(initial=1) < 1 or lens.max(initial=0) > self.steps:
                raise AttributeError_(
                    f"{g.label}: {self.op} sequence_lens {lens.tolist()} must lie in [1, seq_length={self.steps}]"
                )
            if (lens == self.steps).all():
                return None
            return [(t < lens).reshape(self.batch, 1) for t in range(self.steps)]
        lens = seq_lens.reshape((self.batch, 1))
        return [g.op("less", np.full((1, 1), t, np.int32), lens) for t in range(self.steps)]

    def state(self, value, what: str) -> list:
        """An initial state (D, B, H) (layout 1: (B, D, H)) as one (B, H) value per direction (zeros if absent)."""
        g, d = self.g, len(self.reverse)
        if value is None:
            return [np.zeros((self.batch, self.hidden), np.float32)] * d
        if self.layout == 1:
            value = g.op("transpose", value, (1, 0, 2))
        if tuple(value.shape) != (d, self.batch, self.hidden):
            raise AttributeError_(f"{g.label}: {self.op} {what} has shape {value.shape}")
        return [_part(g, value, k) for k in range(d)]

    def projections(self, w, bias, k: int) -> Value:
        """X (T, B, I) @ W[k]^T + bias for every step at once: (T, B, gates * H)."""
        g = self.g
        wk = _part(g, w, k)
        rows = self.x.reshape((self.steps * self.batch, self.x.shape[2]))
        y = g.op("dense", rows, wk, bias)
        return y.reshape((self.steps, self.batch, wk.shape[0]))

    def step_input(self, xw: Value, t: int) -> Value:
        return self.g.op("slice", xw, [t], [t + 1], axes=[0]).reshape(tuple(xw.shape[1:]))

    def order(self, k: int) -> range:
        return range(self.steps - 1, -1, -1) if self.reverse[k] else range(self.steps)

    def keep(self, t: int, new: Value, old: Value) -> Value:
        """The new state where step t is inside the entry's sequence, else the old one."""
        if self.masks is None:
            return new
        return self.g.op("where", self.masks[t], new, old)

    def emitted(self, t: int, h: Value) -> Value:
        """Y's row for step t: h, or zeros past the entry's sequence."""
        if self.masks is None:
            return h
        return self.g.op("where", self.masks[t], h, np.float32(0))

    def outputs(self, ys: list[dict], finals: list[list]) -> list:
        """Y (T, D, B, H), then each final state (D, B, H); layout 1 moves the batch axis first."""
        g, b, h = self.g, self.batch, self.hidden
        per_dir = [
            g.op("concatenate", [ys_k[t].reshape((1, 1, b, h)) for t in range(self.steps)], axis=0) for ys_k in ys
        ]
        y = per_dir[0] if len(per_dir) == 1 else g.op("concatenate", per_dir, axis=1)
        states = []
        for final in finals:
            s = final[0].reshape((1, b, h))
            if len(final) > 1:
                s = g.op("concatenate", [f.reshape((1, b, h)) for f in final], axis=0)
            states.append(s)
        if self.layout == 1:
            y = g.op("transpose", y, (2, 0, 1, 3))
            states = [g.op("transpose", s, (1, 0, 2)) for s in states]
        return [y, *states]


def _biases(g: GraphBuilder, b, k: int, gates: int, hidden: int) -> tuple[Value, Value]:
    """(Wb, Rb) of direction k, each (gates * H,); zeros when B is absent."""
    n = gates * hidden
    if b is None:
        zero = np.zeros(n, np.float32)
        return zero, zero
    if tuple(b.shape[1:]) != (2 * n,):
        raise AttributeError_(f"{g.label}: B has shape {b.shape}, want (D, {2 * n})")
    bk = _part(g, b, k)
    return _cols(g, bk, 0, n), _cols(g, bk, n, 2 * n)


def _check_single(g: GraphBuilder, op: str, a: dict) -> None:
    if int(a.get("output_sequence", 0)) not in (0, 1):
        raise AttributeError_(f"{g.label}: {op} output_sequence {a['output_sequence']} is not supported")


# ---- RNN ------------------------------------------------------------------------------------------------
@onnx_op(F, "RNN", 1, _COMMON + ("output_sequence",))
def rnn(g: GraphBuilder, a: dict, x, w, r, b=None, seq_lens=None, init_h=None):
    """Ht = f(Xt W^T + Ht-1 R^T + Wb + Rb)."""
    _check_single(g, "RNN", a)
    s = _Setup(g, a, "RNN", 1, x, w, r, seq_lens, init_h)
    acts = _activations(g, a, ["Tanh"], len(s.reverse))
    ys, finals = [], []
    for k in range(len(s.reverse)):
        wb, rb = _biases(g, b, k, 1, s.hidden)
        xw, rk, h = s.projections(w, g.op("add", wb, rb), k), _part(g, r, k), s.init_h[k]
        y = {}
        for t in s.order(k):
            new = _activate(g, acts[k][0], g.op("add", s.step_input(xw, t), g.op("dense", h, rk)), s.clip)
            y[t], h = s.emitted(t, new), s.keep(t, new, h)
        ys.append(y)
        finals.append(h)
    return s.outputs(ys, [finals])


# ---- GRU ------------------------------------------------------------------------------------------------
@onnx_op(F, "GRU", 1, _COMMON + ("output_sequence", "linear_before_reset"))
def gru(g: GraphBuilder, a: dict, x, w, r, b=None, seq_lens=None, init_h=None):
    """zt, rt = f(Xt W[zr]^T + Ht-1 R[zr]^T + biases); ht = g(Xt Wh^T + (rt Ht-1) Rh^T + Rbh + Wbh)
    (linear_before_reset: rt (Ht-1 Rh^T + Rbh)); Ht = (1 - zt) ht + zt Ht-1."""
    _check_single(g, "GRU", a)
    s = _Setup(g, a, "GRU", 3, x, w, r, seq_lens, init_h)
    acts = _activations(g, a, ["Sigmoid", "Tanh"], len(s.reverse))
    before_reset = int(a.get("linear_before_reset", 0))
    hid = s.hidden
    ys, finals = [], []
    for k in range(len(s.reverse)):
        wb, rb = _biases(g, b, k, 3, hid)
        rb_zr, rb_h = _cols(g, rb, 0, 2 * hid), _cols(g, rb, 2 * hid, 3 * hid)
        zero_h = np.zeros(hid, np.float32)
        # Rbh joins the input projection unless it sits inside rt's product (linear_before_reset)
        x_bias = g.op("add", wb, g.op("concatenate", [rb_zr, zero_h if before_reset else rb_h], axis=0))
        xw, rk, h = s.projections(w, x_bias, k), _part(g, r, k), s.init_h[k]
        r_zr, r_h = g.op("slice", rk, [0], [2 * hid], axes=[0]), g.op("slice", rk, [2 * hid], [3 * hid], axes=[0])
        recur_bias = g.op("concatenate", [np.zeros(2 * hid, np.float32), rb_h], axis=0)
        y = {}
        for t in s.order(k):
            xt = s.step_input(xw, t)
            if before_reset:
                hr = g.op("dense", h, rk, recur_bias)
                zr = _activate(g, acts[k][0], g.op("add", _cols(g, xt, 0, 2 * hid), _cols(g, hr, 0, 2 * hid)), s.clip)
                reset = g.op("multiply", _cols(g, zr, hid, 2 * hid), _cols(g, hr, 2 * hid, 3 * hid))
            else:
                zr = _activate(g, acts[k][0], g.op("add", _cols(g, xt, 0, 2 * hid), g.op("dense", h, r_zr)), s.clip)
                reset = g.op("dense", g.op("multiply", _cols(g, zr, hid, 2 * hid), h), r_h)
            cand = _activate(g, acts[k][1], g.op("add", _cols(g, xt, 2 * hid, 3 * hid), reset), s.clip)
            z = _cols(g, zr, 0, hid)
            new = g.op("add", cand, g.op("multiply", z, g.op("subtract", h, cand)))  # (1 - z) ht + z Ht-1
            y[t], h = s.emitted(t, new), s.keep(t, new, h)
        ys.append(y)
        finals.append(h)
    return s.outputs(ys, [finals])


# ---- LSTM -----------------------------------------------------------------------------------------------
@onnx_op(F, "LSTM", 1, _COMMON + ("output_sequence", "input_forget"))
def lstm(g: GraphBuilder, a: dict, x, w, r, b=None, seq_lens=None, init_h=None, init_c=None, p=None):
    """Gates i, o, f, c: it, ot, ft = f(Xt W^T + Ht-1 R^T + biases (+ peepholes P * C)); ct = g(...);
    Ct = ft Ct-1 + it ct; Ht = ot h(Ct). input_forget couples ft = 1 - it."""
    _check_single(g, "LSTM", a)
    s = _Setup(g, a, "LSTM", 4, x, w, r, seq_lens, init_h)
    acts = _activations(g, a, ["Sigmoid", "Tanh", "Tanh"], len(s.reverse))
    couple = int(a.get("input_forget", 0))
    hid = s.hidden
    init_c = s.state(init_c, "initial_c")
    if p is not None and tuple(p.shape) != (len(s.reverse), 3 * hid):
        raise AttributeError_(f"{g.label}: LSTM P has shape {p.shape}, want ({len(s.reverse)}, {3 * hid})")
    ys, finals_h, finals_c = [], [], []
    for k in range(len(s.reverse)):
        f_act, g_act, h_act = acts[k]
        wb, rb = _biases(g, b, k, 4, hid)
        xw, rk = s.projections(w, g.op("add", wb, rb), k), _part(g, r, k)
        pk = _part(g, p, k)
        peep = None if pk is None else [_cols(g, pk, j * hid, (j + 1) * hid) for j in range(3)]  # i, o, f
        h, c = s.init_h[k], init_c[k]
        y = {}
        for t in s.order(k):
            gates = g.op("add", s.step_input(xw, t), g.op("dense", h, rk))
            pre_i, pre_o = _cols(g, gates, 0, hid), _cols(g, gates, hid, 2 * hid)
            pre_f, pre_c = _cols(g, gates, 2 * hid, 3 * hid), _cols(g, gates, 3 * hid, 4 * hid)
            if peep is not None:
                pre_i = g.op("add", pre_i, g.op("multiply", peep[0], c))
                pre_f = g.op("add", pre_f, g.op("multiply", peep[2], c))
            i = _activate(g, f_act, pre_i, s.clip)
            f = g.op("subtract", np.float32(1), i) if couple else _activate(g, f_act, pre_f, s.clip)
            cell = _activate(g, g_act, pre_c, s.clip)
            c_new = g.op("add", g.op("multiply", f, c), g.op("multiply", i, cell))
            if peep is not None:
                pre_o = g.op("add", pre_o, g.op("multiply", peep[1], c_new))
            o = _activate(g, f_act, pre_o, s.clip)
            h_new = g.op("multiply", o, _activate(g, h_act, c_new, None))
            y[t], h, c = s.emitted(t, h_new), s.keep(t, h_new, h), s.keep(t, c_new, c)
        ys.append(y)
        finals_h.append(h)
        finals_c.append(c)
    return s.outputs(ys, [finals_h, finals_c])

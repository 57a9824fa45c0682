"""The ONNX frontend: LinearAttention (opset 27), the recurrent linear / gated / delta attention of
Gated DeltaNet style models, as a composition of matmul, multiply, add, subtract, exp and slice.

The recurrence over time steps is unrolled on the host: programs are specialised per input shape, so the
sequence length T is known and each step becomes a handful of small kernel calls on the (B, H_kv, d_k, d_v)
state. Heads stay packed as ONNX gives them: a (B, 1, H*D) time slice is the same memory as (B, H, 1, D),
so no transposes are needed. Grouped query heads read their shared KV state through a (B, H_kv, G, d_k)
view of the query (query head h uses KV head h // G).
"""

from __future__ import annotations

import math

import numpy as np

from .graph import GraphBuilder
from .onnx_nn_ops import _str
from .onnx_ops import AttributeError_, F, onnx_op

_RULES = ("linear", "gated", "delta", "gated_delta")


def _step(g: GraphBuilder, x, t: int, heads: int, shape_tail: tuple[int, ...]):
    """x[:, t] of a (B, T, heads * D) tensor, viewed as (B, heads, *shape_tail)."""
    part = g.op("slice", x, [t], [t + 1], axes=[1])
    return part.reshape((x.shape[0], heads) + shape_tail)


def _check(g: GraphBuilder, what: str, ok: bool, detail: str) -> None:
    if not ok:
        raise AttributeError_(f"{g.label}: LinearAttention {what}: {detail}")


@onnx_op(F, "LinearAttention", 27, ("chunk_size", "kv_num_heads", "q_num_heads", "scale", "update_rule"))
def linear_attention(g: GraphBuilder, a: dict, query, key, value, past_state=None, decay=None, beta=None):
    """output (B, T, H_q * d_v) and present_state (B, H_kv, d_k, d_v); chunk_size is a tuning hint only."""
    rule = _str(a.get("update_rule"), "gated_delta")
    _check(g, "update_rule", rule in _RULES, f"{rule!r} is not one of {_RULES}")
    if "q_num_heads" not in a or "kv_num_heads" not in a:
        raise AttributeError_(f"{g.label}: LinearAttention needs q_num_heads and kv_num_heads")
    hq, hkv = int(a["q_num_heads"]), int(a["kv_num_heads"])
    _check(g, "heads", hq > 0 and hkv > 0 and hq % hkv == 0, f"q_num_heads {hq} is not a multiple of {hkv}")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    _check(g, "decay", (decay is not None) == gating, f"update_rule {rule!r} {'needs' if gating else 'forbids'} it")
    _check(g, "beta", (beta is not None) == delta, f"update_rule {rule!r} {'needs' if delta else 'forbids'} it")
    for name, x in (("query", query), ("key", key), ("value", value)):
        _check(g, name, len(x.shape) == 3, f"must be rank 3 (B, T, H*D), got {x.shape}")
    b, t, qd = query.shape
    _check(g, "query", qd % hq == 0, f"last dim {qd} is not divisible by q_num_heads {hq}")
    dk = qd // hq
    _check(g, "sequence length", t > 0, "0 time steps")
    _check(g, "value", value.shape[2] % hkv == 0, f"last dim {value.shape[2]} is not divisible by {hkv}")
    dv = value.shape[2] // hkv
    _check(g, "key", tuple(key.shape) == (b, t, hkv * dk), f"shape {key.shape}, expected {(b, t, hkv * dk)}")
    _check(g, "value", tuple(value.shape[:2]) == (b, t), f"shape {value.shape} does not match query {query.shape}")
    state_shape = (b, hkv, dk, dv)
    if past_state is None:
        state = np.zeros(state_shape, np.float32)
    else:
        _check(g, "past_state", tuple(past_state.shape) == state_shape, f"{past_state.shape}, expected {state_shape}")
        state = past_state
    if gating:
        _check(
            g,
            "decay",
            len(decay.shape) == 3 and tuple(decay.shape[:2]) == (b, t) and decay.shape[2] in (hkv, hkv * dk),
            f"shape {decay.shape}, expected ({b}, {t}, {hkv} or {hkv * dk})",
        )
        decay_tail = (dk, 1) if decay.shape[2] == hkv * dk else (1, 1)
        decay = g.op("exp", decay)  # once for every step
    if delta:
        _check(
            g,
            "beta",
            len(beta.shape) == 3 and tuple(beta.shape[:2]) == (b, t) and beta.shape[2] in (hkv, 1),
            f"shape {beta.shape}, expected ({b}, {t}, {hkv} or 1)",
        )
    scale = float(a.get("scale", 0.0))
    scale = 1.0 / math.sqrt(dk) if scale == 0.0 else scale
    group = hq // hkv
    outputs = []
    for i in range(t):
        k_t = _step(g, key, i, hkv, (1, dk))  # (B, H_kv, 1, d_k)
        v_t = _step(g, value, i, hkv, (1, dv))  # (B, H_kv, 1, d_v)
        if gating:
            state = g.op("multiply", state, _step(g, decay, i, hkv, decay_tail))
        if delta:
            retrieved = g.op("matmul", k_t, state)  # S^T k: (B, H_kv, 1, d_v)
            beta_t = _step(g, beta, i, beta.shape[2], (1, 1))
            v_t = g.op("multiply", beta_t, g.op("subtract", v_t, retrieved))
        outer = g.op("multiply", k_t.reshape((b, hkv, dk, 1)), v_t)  # k ⊗ v: (B, H_kv, d_k, d_v)
        state = g.op("add", state, outer)
        q_t = _step(g, query, i, hkv, (group, dk))  # (B, H_kv, G, d_k): query heads grouped by KV head
        o_t = g.op("multiply", g.op("matmul", q_t, state), np.float32(scale))  # (B, H_kv, G, d_v)
        outputs.append(o_t.reshape((b, 1, hq * dv)))
    output = outputs[0] if t == 1 else g.op("concatenate", outputs, axis=1)
    return [output, state]

"""The ONNX frontend, Attention (opset 23 to 25) as a composition of existing ops.

softmax(Q K^T * scale [softcapped] + bias) V, where the additive bias collects the attention mask (bool
masks become 0 / -inf), the causal frontier, the sliding window and the padding of nonpad_kv_seqlen.
Masks known on the host fold to constants; masks from graph inputs are built with compare / where ops.
Grouped-query attention needs no copy of K / V: Q's heads are viewed as (kv heads, group * q_len) rows.
Rows whose bias is entirely -inf give 0, as the ONNX reference specifies.

qk_matmul_output follows the ONNX reference implementation (the suite's oracle): modes 0 and 1 return
Q K^T (after the softcap, if any), mode 2 adds the bias, mode 3 returns the softmax.
"""

from __future__ import annotations

import numpy as np

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, onnx_op

_F32 = np.float32
_NEG_INF = _F32(-np.inf)
_ATTRS_23 = ("scale", "is_causal", "q_num_heads", "kv_num_heads", "softmax_precision", "softcap")
_ATTRS_23 += ("qk_matmul_output_mode",)
_FLOAT_TYPES = (1, 10, 11, 16)  # float, float16, double, bfloat16: the softmax runs in float32 either way


def _heads(g: GraphBuilder, x, heads: int | None, what: str):
    """(B, S, H * D) -> (B, H, S, D); 4-D inputs pass through."""
    if len(x.shape) == 4:
        return x
    if len(x.shape) != 3 or heads is None:
        raise AttributeError_(f"{g.label}: {what} must be 4-D, or 3-D with q_num_heads / kv_num_heads given")
    b, s, hidden = x.shape
    if heads <= 0 or hidden % heads:
        raise AttributeError_(f"{g.label}: {what} hidden size {hidden} is not a multiple of {heads} heads")
    return g.op("transpose", x.reshape((b, s, heads, hidden // heads)), (0, 2, 1, 3))


def _allowed_to_bias(g: GraphBuilder, allowed):
    return g.op("where", allowed, _F32(0), _NEG_INF)


def _mask_bias(g: GraphBuilder, mask, kv_len: int):
    """attn_mask as an additive float bias, its last axis padded with -inf up to kv_len."""
    if np.dtype(mask.dtype) == np.bool_:
        mask = _allowed_to_bias(g, mask)
    elif np.dtype(mask.dtype) != np.float32:
        raise AttributeError_(f"{g.label}: attn_mask dtype {mask.dtype} is not supported (bool or float)")
    short = kv_len - mask.shape[-1]
    if short < 0:
        raise AttributeError_(f"{g.label}: attn_mask has {mask.shape[-1]} keys, more than the {kv_len} keys")
    if short:
        mask = g.op("pad", mask, [(0, 0)] * (len(mask.shape) - 1) + [(0, short)], constant_value=-np.inf)
    return mask


def _frontier_bias(g: GraphBuilder, q_len: int, kv_len: int, offset: int, lengths, causal: bool, left: int, right: int):
    """Causal / sliding-window bias for query i and key j, the query sitting at key position i + offset.

    With nonpad_kv_seqlen (`lengths`, (B,)) the offset is per batch, lengths - q_len: the causal test
    j - i + q_len <= lengths becomes a compare of a constant (q, kv) grid with the (B, 1, 1, 1) lengths.
    """
    i = np.arange(q_len, dtype=np.int32).reshape(q_len, 1)
    j = np.arange(kv_len, dtype=np.int32).reshape(1, kv_len)
    rel = j - i  # key position relative to the query's own position
    tests = []
    if lengths is None:
        off = offset
        if causal:
            tests.append(rel <= off)
        if left >= 0:
            tests.append(-rel + off <= left)
        if right >= 0:
            tests.append(rel - off <= right)
        allowed = np.logical_and.reduce(tests) if tests else np.ones((q_len, kv_len), bool)
        return np.where(allowed, _F32(0), _NEG_INF).astype(np.float32)
    lengths = lengths.reshape((lengths.shape[0], 1, 1, 1))
    base = rel + q_len  # j - i + q_len, compared with nonpad = offset + q_len
    if causal:
        tests.append(g.op("less_equal", base, lengths))
    if left >= 0:
        tests.append(g.op("less_equal", lengths, (left + base).astype(np.int32)))
    if right >= 0:
        tests.append(g.op("greater_equal", lengths, (base - right).astype(np.int32)))
    bias = None
    for test in tests:
        term = _allowed_to_bias(g, test)
        bias = term if bias is None else g.op("add", bias, term)
    return bias


def _add(g: GraphBuilder, bias, term):
    if term is None:
        return bias
    return term if bias is None else g.op("add", bias, term)


def attention(g: GraphBuilder, a: dict, q, k, v, mask=None, past_k=None, past_v=None, nonpad=None):
    """Y (and present_key, present_value, qk_matmul_output when the node asks for them)."""
    if nonpad is not None:
        if is_const(nonpad):
            nonpad = np.asarray(nonpad, np.int32)
        if tuple(nonpad.shape) != (q.shape[0],):
            raise AttributeError_(f"{g.label}: nonpad_kv_seqlen must have shape ({q.shape[0]},), got {nonpad.shape}")
    if (past_k is None) != (past_v is None):
        raise AttributeError_(f"{g.label}: past_key and past_value must be given together")
    if nonpad is not None and past_k is not None:
        raise AttributeError_(f"{g.label}: nonpad_kv_seqlen cannot be combined with past_key / past_value")
    if int(a.get("softmax_precision", 1)) not in _FLOAT_TYPES:
        raise AttributeError_(f"{g.label}: softmax_precision {a['softmax_precision']} is not a float type")
    mode = int(a.get("qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise AttributeError_(f"{g.label}: qk_matmul_output_mode {mode} is not supported (0 to 3)")
    rank = len(q.shape)
    if len(k.shape) != rank or len(v.shape) != rank:
        raise AttributeError_(f"{g.label}: Q, K and V must have the same rank, got {q.shape}, {k.shape}, {v.shape}")
    q_heads = int(a["q_num_heads"]) if "q_num_heads" in a else None
    kv_heads = int(a["kv_num_heads"]) if "kv_num_heads" in a else None
    q, k, v = _heads(g, q, q_heads, "Q"), _heads(g, k, kv_heads, "K"), _heads(g, v, kv_heads, "V")
    if past_k is not None:
        k = g.op("concatenate", [past_k, k], axis=2)
        v = g.op("concatenate", [past_v, v], axis=2)
    present_k, present_v = k, v
    batch, hq, q_len, head = q.shape
    hk, kv_len = k.shape[1], k.shape[2]
    if hq % hk or v.shape[1] != hk or k.shape[3] != head or v.shape[2] != kv_len:
        raise AttributeError_(f"{g.label}: Q {q.shape}, K {k.shape} and V {v.shape} do not fit together")
    group = hq // hk

    scale = float(a["scale"]) if "scale" in a else 1.0 / np.sqrt(head)
    # grouped-query: query heads h = kv_head * group + r share K / V, so view Q as (B, Hk, group * S, D)
    qk = g.op(
        "matmul",
        g.op("multiply", q, _F32(scale)).reshape((batch, hk, group * q_len, head)),
        g.op("transpose", k, (0, 1, 3, 2)),
    )
    qk = qk.reshape((batch, hq, q_len, kv_len))
    softcap = float(a.get("softcap", 0.0))
    if softcap > 0:
        qk = g.op("multiply", g.op("tanh", g.op("multiply", qk, _F32(1.0 / softcap))), _F32(softcap))

    bias = None if mask is None else _mask_bias(g, mask, kv_len)
    causal, left, right = (
        bool(a.get("is_causal", 0)),
        int(a.get("left_window_size", -1)),
        int(a.get("right_window_size", -1)),
    )
    if causal or left >= 0 or right >= 0:
        past = 0 if past_k is None else past_k.shape[2]
        bias = _add(g, bias, _frontier_bias(g, q_len, kv_len, past, nonpad, causal, left, right))
    if nonpad is not None:
        keys = np.arange(kv_len, dtype=np.int32)
        pad_ok = g.op("less", keys, nonpad.reshape((batch, 1, 1, 1)))
        bias = _add(g, bias, _allowed_to_bias(g, pad_ok))

    scores = qk if bias is None else g.op("add", qk, bias)
    probs = g.op("softmax", scores, axis=-1)
    if bias is not None:
        dead = g.op("equal", g.op("max", bias, axis=-1, keepdims=True), _NEG_INF)
        if not is_const(dead) or np.any(dead):
            probs = g.op("where", dead, _F32(0), probs)
    dv = v.shape[3]
    y = g.op("matmul", probs.reshape((batch, hk, group * q_len, kv_len)), v).reshape((batch, hq, q_len, dv))
    if rank == 3:
        y = g.op("transpose", y, (0, 2, 1, 3)).reshape((batch, q_len, hq * dv))
    outs = [y, present_k, present_v]
    if g.num_outputs > 3:
        qk_out = {0: qk, 1: qk, 2: scores, 3: probs}[mode]
        if tuple(qk_out.shape) != (batch, hq, q_len, kv_len):
            qk_out = g.op("broadcast_to", qk_out, (batch, hq, q_len, kv_len))
        outs.append(qk_out)
    return outs[: g.num_outputs]


onnx_op(F, "Attention", 23, _ATTRS_23)(attention)
onnx_op(F, "Attention", 25, _ATTRS_23 + ("left_window_size", "right_window_size"))(attention)

"""The ONNX frontend, Einsum as transposes, reshapes, sums and batched matmuls.

Operands are folded left to right: letters only one side needs are summed out first, then the pair is
laid out as (batch..., free, contracted) @ (batch..., contracted, free) for `matmul`. Ellipses become
placeholder letters aligned to the right. A letter repeated inside one operand (a diagonal) is taken with
an identity mask: where(eye, x, 0) summed over the second occurrence.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .graph import GraphBuilder
from .onnx_nn_ops import _str
from .onnx_ops import AttributeError_, F, onnx_op


def _parse(g: GraphBuilder, equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Operand subscripts and the output subscript, ellipses replaced by placeholder letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes) or not re.fullmatch(r"[A-Za-z.,>\-]*", eq):
        raise AttributeError_(f"{g.label}: Einsum equation {equation!r} does not fit {len(shapes)} inputs")
    width = 0
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            width = max(width, len(shape) - (len(term) - 3))
    dots = "".join(chr(0x100 + i) for i in range(width))
    subs = []
    for term, shape in zip(terms, shapes, strict=True):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            term = term.replace("...", dots[width - n :])
        if "." in term or len(term) != len(shape):
            raise AttributeError_(f"{g.label}: Einsum term {term!r} does not match an input of shape {shape}")
        subs.append(term)
    if arrow:
        out = rhs.replace("...", dots)
    else:
        counts = "".join(subs)
        out = dots + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in dots))
    if len(set(out)) != len(out) or any(c not in "".join(subs) for c in out):
        raise AttributeError_(f"{g.label}: Einsum output {rhs!r} is not valid for {equation!r}")
    return subs, out


def _diagonals(g: GraphBuilder, x, sub: str):
    """Take the diagonal of every letter repeated in sub, so each letter appears once."""
    while len(set(sub)) != len(sub):
        c = next(c for c in sub if sub.count(c) > 1)
        p, q = sub.index(c), sub.index(c, sub.index(c) + 1)
        if x.shape[p] != x.shape[q]:
            raise AttributeError_(f"{g.label}: Einsum repeated index {c!r} spans dims {x.shape[p]} and {x.shape[q]}")
        eye_shape = [1] * len(sub)
        eye_shape[p] = eye_shape[q] = x.shape[p]
        eye = np.eye(x.shape[p], dtype=bool).reshape(eye_shape)
        x = g.op("sum", g.op("where", eye, x, np.zeros((), x.dtype)), axis=(q,))
        sub = sub[:q] + sub[q + 1 :]
    return x, sub


def _sum_out(g: GraphBuilder, x, sub: str, keep: set[str]):
    axes = tuple(i for i, c in enumerate(sub) if c not in keep)
    if not axes:
        return x, sub
    return g.op("sum", x, axis=axes), "".join(c for c in sub if c in keep)


def _permute(g: GraphBuilder, x, sub: str, order: str):
    perm = tuple(sub.index(c) for c in order)
    return x if perm == tuple(range(len(sub))) else g.op("transpose", x, perm)


def _contract(g: GraphBuilder, a, sa: str, b, sb: str, keep: set[str]):
    """a (subscripts sa) times b (sb), summing every shared letter not in keep."""
    a, sa = _sum_out(g, a, sa, keep | set(sb))
    b, sb = _sum_out(g, b, sb, keep | set(sa))
    batch = "".join(c for c in sa if c in sb and c in keep)
    inner = "".join(c for c in sa if c in sb and c not in keep)
    free_a = "".join(c for c in sa if c not in sb)
    free_b = "".join(c for c in sb if c not in sa)
    dim_a, dim_b = dict(zip(sa, a.shape, strict=True)), dict(zip(sb, b.shape, strict=True))
    if any(dim_a[c] != dim_b[c] for c in inner):
        raise AttributeError_(f"{g.label}: Einsum contracted dims differ: {a.shape} ({sa}) and {b.shape} ({sb})")
    a = _permute(g, a, sa, batch + free_a + inner)
    b = _permute(g, b, sb, batch + inner + free_b)
    m, n, k = (math.prod(d[c] for c in s) for d, s in ((dim_a, free_a), (dim_b, free_b), (dim_a, inner)))
    a = a.reshape(tuple(dim_a[c] for c in batch) + (m, k))
    b = b.reshape(tuple(dim_b[c] for c in batch) + (k, n))
    y = g.op("matmul", a, b)
    shape = y.shape[: len(batch)] + tuple(dim_a[c] for c in free_a) + tuple(dim_b[c] for c in free_b)
    return y.reshape(shape), batch + free_a + free_b


@onnx_op(F, "Einsum", 12, ("equation",))
def einsum(g: GraphBuilder, a: dict, *xs):
    subs, out = _parse(g, _str(a["equation"], ""), [tuple(x.shape) for x in xs])
    xs = list(xs)
    for i, x in enumerate(xs):
        xs[i], subs[i] = _diagonals(g, x, subs[i])
    y, sy = xs[0], subs[0]
    for i in range(1, len(xs)):
        later = set(out).union(*subs[i + 1 :])
        y, sy = _contract(g, y, sy, xs[i], subs[i], later)
    y, sy = _sum_out(g, y, sy, set(out))
    return _permute(g, y, sy, out)

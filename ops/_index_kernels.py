"""TIR for the index kernels (ops/index_ops.py), written as TVMScript text; build time only (imports TVM).

Every index read inside wasm is wrapped (i < 0 means i + n, as numpy and ONNX) and then checked: an index
still outside [0, n) fails a TIR assert, so the kernel returns an error the runtime raises as KernelError
instead of reading or writing outside a tensor. Every extent is symbolic or an int scalar, so one kernel
serves every shape.

- `gather_elements` / `scatter_elements`: indices (and updates, output) RANK-D; data flat, read at
  sum(i_k * s_k) + wrap(index) * sa (the host passes stride 0 for the axis dim).
- `gather_nd` / `scatter_nd`: each index tuple (q ints) picks one row of `inner` elements; the tuple's
  dims and row strides come in as int32 vectors.
- `cumulative`: running sum / product along the middle axis of (outer, n, inner); exclusive / reverse.
- `arg_reduce`: index of the max / min along the middle axis, first or last one on ties (a NaN wins).
- `topk_indices`: the k best indices along the middle axis, best first, ties by lower index.
"""

from __future__ import annotations

from ._layout_kernels import _func, _ints

RANK = 6  # the elements kernels' fixed rank (the host pads with size-1 dims)
COMBINE = {
    "none": "u",
    "add": "o + u",
    "mul": "o * u",
    "max": "T.max(o, u)",
    "min": "T.min(o, u)",
}


def _wrap(var: str, value: str, n: str, what: str) -> list[str]:
    return [
        f"{var}: T.int32 = T.if_then_else({value} < 0, {value} + {n}, {value})",
        f'assert 0 <= {var} and {var} < {n}, "{what}: index out of range"',
    ]


def _elements(dtype: str, scatter: str | None):
    d = [f"d{k}" for k in range(RANK)]
    i = ", ".join(f"i{k}" for k in range(RANK))
    base = " + ".join(f"i{k} * s{k}" for k in range(RANK))
    decls = _ints("n_data", *d) + [
        f'data = T.match_buffer(data_h, (n_data,), "{dtype}")',
        f'idx = T.match_buffer(idx_h, ({", ".join(d)}), "int32")',
    ]
    what = "scatter_elements" if scatter else "gather_elements"
    loop = [f"for {i} in T.grid({', '.join(d)}):", *("    " + line for line in _wrap("r", f"idx[{i}]", "n", what))]
    if scatter is None:
        decls.append(f'y = T.match_buffer(y_h, ({", ".join(d)}), "{dtype}")')
        params = ["data_h: T.handle", "idx_h: T.handle", "y_h: T.handle"]
        body = loop + [f"    y[{i}] = data[{base} + r * sa]"]
    else:
        decls.append(f'upd = T.match_buffer(upd_h, ({", ".join(d)}), "{dtype}")')
        decls.append(f'y = T.match_buffer(y_h, (n_data,), "{dtype}")')
        params = ["data_h: T.handle", "idx_h: T.handle", "upd_h: T.handle", "y_h: T.handle"]
        body = ["for e in range(n_data):", "    y[e] = data[e]"] + loop
        body += [
            f"    at: T.int32 = {base} + r * sa",
            "    o = y[at]",
            f"    u = upd[{i}]",
            f"    y[at] = {COMBINE[scatter]}",
        ]
    params += ["n: T.int32", "sa: T.int32"] + [f"s{k}: T.int32" for k in range(RANK)]
    return _func(params, body, decls)


def gather_elements(dtype: str):
    """y[i] = data[i with the axis coordinate replaced by wrap(idx[i])]."""
    return _elements(dtype, None)


def scatter_elements(dtype: str, reduction: str):
    """y = data, then y[i with the axis coordinate replaced by wrap(idx[i])] = combine(y[..], upd[i]) in order."""
    return _elements(dtype, reduction)


def _nd_offset(what: str) -> list[str]:
    """`off[0]` = the row picked by the index tuple idx[b, m, :] (dims / row strides per tuple entry)."""
    return [
        "    off[0] = 0",
        "    for j in range(q):",
        *("        " + line for line in _wrap("r", "idx[b, m, j]", "dims[j]", what)),
        "        off[0] = off[0] + r * rows[j]",
    ]


def gather_nd(dtype: str):
    """y[b, m, :] = data[b, row(idx[b, m, :]) * inner :][:inner]."""
    decls = _ints("nb", "total", "m_", "q", "inner") + [
        f'data = T.match_buffer(data_h, (nb, total), "{dtype}")',
        'idx = T.match_buffer(idx_h, (nb, m_, q), "int32")',
        'dims = T.match_buffer(dims_h, (q,), "int32")',
        'rows = T.match_buffer(rows_h, (q,), "int32")',
        f'y = T.match_buffer(y_h, (nb, m_, inner), "{dtype}")',
    ]
    body = [
        'off = T.alloc_buffer((1,), "int32", scope="local")',
        "for b, m in T.grid(nb, m_):",
        *_nd_offset("gather_nd"),
        "    for e in range(inner):",
        "        y[b, m, e] = data[b, off[0] * inner + e]",
    ]
    params = ["data_h: T.handle", "idx_h: T.handle", "dims_h: T.handle", "rows_h: T.handle", "y_h: T.handle"]
    return _func(params, body, decls)


def scatter_nd(dtype: str, reduction: str):
    """y = data, then row(idx[m, :]) of y = combine(that row, upd[m, :]) for each m in order."""
    decls = _ints("total", "m_", "q", "inner") + [
        f'data = T.match_buffer(data_h, (total,), "{dtype}")',
        'idx = T.match_buffer(idx_h, (1, m_, q), "int32")',
        f'upd = T.match_buffer(upd_h, (m_, inner), "{dtype}")',
        'dims = T.match_buffer(dims_h, (q,), "int32")',
        'rows = T.match_buffer(rows_h, (q,), "int32")',
        f'y = T.match_buffer(y_h, (total,), "{dtype}")',
    ]
    body = [
        'off = T.alloc_buffer((1,), "int32", scope="local")',
        "for e in range(total):",
        "    y[e] = data[e]",
        "for b, m in T.grid(1, m_):",
        *_nd_offset("scatter_nd"),
        "    for e in range(inner):",
        "        o = y[off[0] * inner + e]",
        "        u = upd[m, e]",
        f"        y[off[0] * inner + e] = {COMBINE[reduction]}",
    ]
    params = ["data_h: T.handle", "idx_h: T.handle", "upd_h: T.handle", "dims_h: T.handle", "rows_h: T.handle"]
    return _func(params + ["y_h: T.handle"], body, decls)


def _middle(dtype: str, out_dtype: str, out_mid: str = "n") -> list[str]:
    return _ints("outer", "n", "inner") + [
        f'x = T.match_buffer(x_h, (outer, n, inner), "{dtype}")',
        f'y = T.match_buffer(y_h, (outer, {out_mid}, inner), "{out_dtype}")',
    ]


def cumulative(dtype: str, op: str):
    """y[o, k, :] = x[o, 0, :] op ... op x[o, k, :] (exclusive: up to k - 1; reverse: from the end)."""
    sym = "+" if op == "sum" else "*"
    one = ("0" if op == "sum" else "1") + (".0" if dtype.startswith("float") else "")
    body = [
        "for o, t in T.grid(outer, n):",
        "    k: T.int32 = T.if_then_else(reverse != 0, n - 1 - t, t)",
        "    p: T.int32 = T.if_then_else(reverse != 0, k + 1, k - 1)",
        "    for e in range(inner):",
        "        if t == 0:",
        f"            y[o, k, e] = T.if_then_else(exclusive != 0, T.{dtype}({one}), x[o, k, e])",
        "        else:",
        f"            y[o, k, e] = y[o, p, e] {sym} T.if_then_else(exclusive != 0, x[o, p, e], x[o, k, e])",
    ]
    params = ["x_h: T.handle", "y_h: T.handle", "exclusive: T.int32", "reverse: T.int32"]
    return _func(params, body, _middle(dtype, dtype))


def arg_reduce(dtype: str, which: str):
    """y[o, e] = index of the max (min) of x[o, :, e]; `last` != 0 picks the last of equal ones."""
    better = ">" if which == "max" else "<"
    take, tie = f"v {better} b", "v == b"
    if dtype.startswith("float"):  # a NaN wins (the first one, or the last with `last`), as numpy's argmax
        take = f"{take} or (T.isnan(v) and not T.isnan(b))"
        tie = f"{tie} or (T.isnan(v) and T.isnan(b))"
    body = [
        "for o, e in T.grid(outer, inner):",
        "    y[o, 0, e] = 0",
        "for o, k, e in T.grid(outer, n - 1, inner):",
        "    v = x[o, k + 1, e]",
        "    b = x[o, y[o, 0, e], e]",
        f"    if {take} or (last != 0 and ({tie})):",
        "        y[o, 0, e] = k + 1",
    ]
    params = ["x_h: T.handle", "y_h: T.handle", "last: T.int32"]
    return _func(params, body, _middle(dtype, "int32", "1"))


def topk_indices(dtype: str):
    """y[o, j, e] = index of the j-th largest (largest == 0: smallest) of x[o, :, e], ties by lower index.

    Selection by rank: candidate t is eligible for slot j when it comes after slot j - 1's pick in the
    order (value, then index); the best eligible one, the first on ties, is slot j's pick. NaN ranks above
    +inf (first when largest, last otherwise) and NaNs tie, as onnxruntime's TopK orders them; -0 ties 0."""
    decls = _ints("outer", "n", "inner", "k") + [
        f'x = T.match_buffer(x_h, (outer, n, inner), "{dtype}")',
        'y = T.match_buffer(y_h, (outer, k, inner), "int32")',
    ]
    floats = dtype.startswith("float")

    def above(a: str, b: str) -> str:  # a > b, NaN above everything
        return f"({a} > {b} or (T.isnan({a}) and not T.isnan({b})))" if floats else f"{a} > {b}"

    def before(a: str, b: str) -> str:  # a strictly better than b
        return f"((largest != 0 and {above(a, b)}) or (largest == 0 and {above(b, a)}))"

    def same(a: str, b: str) -> str:
        return f"({a} == {b} or (T.isnan({a}) and T.isnan({b})))" if floats else f"{a} == {b}"

    eligible = f"j == 0 or {before('pv', 'v')} or ({same('v', 'pv')} and t > pi)"
    body = [
        "for o, e, j in T.grid(outer, inner, k):",
        "    y[o, j, e] = -1",
        "    for t in range(n):",
        "        v = x[o, t, e]",
        "        pi: T.int32 = y[o, T.max(j - 1, 0), e]",  # slot j - 1's pick (read but unused when j == 0)
        "        pv = x[o, T.max(pi, 0), e]",
        "        cur: T.int32 = y[o, j, e]",
        "        cv = x[o, T.max(cur, 0), e]",
        f"        if ({eligible}) and (cur < 0 or {before('v', 'cv')}):",
        "            y[o, j, e] = t",
    ]
    return _func(["x_h: T.handle", "y_h: T.handle", "largest: T.int32"], body, decls)

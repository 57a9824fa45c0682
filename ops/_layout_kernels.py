"""TIR for the layout kernels (ops/layout.py), written as TVMScript text and parsed at build time.

Layout kernels move data without arithmetic, and TE cannot express what they need: a concat writes one
output from several loops, and a copy loop must not carry a per-element bounds predicate (the split-by-16
tail of `schedule_injective` makes TVM scalarise the loop with a branch per element). Plain serial row
loops are what LLVM turns into `memory.copy`; the tiled transpose spells out its v128 loads, shuffles and
stores and handles tails with scalar loops. Every extent is symbolic or an int scalar, so one kernel
serves every shape.

Imported only by kernel builders (it imports TVM).
"""

from __future__ import annotations

from tvm.script.parser import parse

TILE = 16  # tile edge of the tiled transpose (a 4 x 4 grid of 4 x 4 register blocks)
RANK = 6  # the transpose kernels' fixed loop rank (the host pads with size-1 dims)
CONCAT_ARITIES = (2, 4, 8, 32)  # inputs per concat kernel; unused slots get (outer, 0) arrays


def _func(params: list[str], body: list[str], decls: list[str]):
    src = "\n".join(
        ["@T.prim_func", f"def main({', '.join(params)}):", '    T.func_attr({"tirx.noalias": True})']
        + [f"    {d}" for d in decls]
        + [f"    {line}" for line in body]
    )
    return parse(src)


def _ints(*names: str) -> list[str]:
    return [f"{n} = T.int32()" for n in names]


def copy(dtype: str):
    """y = x over flat buffers: one serial loop, which LLVM emits as `memory.copy`."""
    decls = _ints("n") + [f'x = T.match_buffer(x_h, (n,), "{dtype}")', f'y = T.match_buffer(y_h, (n,), "{dtype}")']
    return _func(["x_h: T.handle", "y_h: T.handle"], ["for i in range(n):", "    y[i] = x[i]"], decls)


def transpose_rows(dtype: str):
    """y[i0..i5] = x[i0*s0 + .. + i4*s4 + i5]: the innermost output dim is contiguous in x, so every
    output row is one contiguous copy (`memory.copy`). y is RANK-D, x flat; s0..s4 are x's strides."""
    d = [f"d{k}" for k in range(RANK)]
    i = [f"i{k}" for k in range(RANK - 1)]
    base = " + ".join(f"i{k} * s{k}" for k in range(RANK - 1))
    decls = _ints("n", *d) + [
        f'x = T.match_buffer(x_h, (n,), "{dtype}")',
        f'y = T.match_buffer(y_h, ({", ".join(d)}), "{dtype}")',
    ]
    body = [
        f"for {', '.join(i)} in T.grid({', '.join(d[:-1])}):",
        f"    for j in range(d{RANK - 1}):",
        f"        y[{', '.join(i)}, j] = x[{base} + j]",
    ]
    params = ["x_h: T.handle", "y_h: T.handle"] + [f"s{k}: T.int32" for k in range(RANK - 1)]
    return _func(params, body, decls)


def transpose_tiled(dtype: str):
    """A strided copy, tiled for the case where no dim is contiguous on both sides (matrix transpose).

    Loop k has extent e_k, x stride s_k and y stride o_k; loop 5 must be y's contiguous dim (o5 = 1).
    Loops 4 and 5 are walked in TILE x TILE tiles. When loop 4 is x's contiguous dim (s4 = 1, which the
    host arranges whenever e5 >= TILE) a tile is 4 x 4 register transposes: four v128 loads along x's
    rows, four shuffles, four v128 stores along y's rows. Otherwise tile rows are gathered lane by lane.
    """
    t, v = TILE, 4
    outer = [f"i{k}" for k in range(RANK - 2)]
    xb = " + ".join(f"i{k} * s{k}" for k in range(RANK - 2))
    yb = " + ".join(f"i{k} * o{k}" for k in range(RANK - 2))
    decls = _ints("n", "m") + [f'x = T.match_buffer(x_h, (n,), "{dtype}")', f'y = T.match_buffer(y_h, (m,), "{dtype}")']

    def store(a: str, b: str) -> str:
        return f"y[{yb} + ({a}) * o4 + {b}] = x[{xb} + ({a}) * s4 + ({b}) * s5]"

    a_, b_ = f"a0 * {t} + a1 * {v}", f"b0 * {t} + b1 * {v}"  # the 4 x 4 block's corner
    rows = ", ".join(f"x[T.Ramp({xb} + {a_} + ({b_} + {k}) * s5, 1, {v})]" for k in range(v))
    block = [
        f"y[T.Ramp({yb} + ({a_} + {r}) * o4 + {b_}, 1, {v})] = "
        f"T.Shuffle([{rows}], [{', '.join(str(r + v * k) for k in range(v))}])"
        for r in range(v)
    ]
    body = [
        f"for {', '.join(outer)} in T.grid({', '.join(f'e{k}' for k in range(RANK - 2))}):",
        "    if s4 == 1:",
        f"        for a0, b0, a1, b1 in T.grid(e4 // {t}, e5 // {t}, {t // v}, {t // v}):",
        *(f"            {line}" for line in block),
        "    else:",
        f"        for a0, b0, a1 in T.grid(e4 // {t}, e5 // {t}, {t}):",
        f"            for b1 in T.vectorized({t}):",
        f"                {store(f'a0 * {t} + a1', f'b0 * {t} + b1')}",
        f"    for a0, a1, b1 in T.grid(e4 // {t}, {t}, e5 % {t}):",
        f"        {store(f'a0 * {t} + a1', f'e5 // {t} * {t} + b1')}",
        f"    for a1, b in T.grid(e4 % {t}, e5):",
        f"        {store(f'e4 // {t} * {t} + a1', 'b')}",
    ]
    scalars = [f"e{k}" for k in range(RANK)] + [f"s{k}" for k in range(RANK)] + [f"o{k}" for k in range(RANK - 1)]
    params = ["x_h: T.handle", "y_h: T.handle"] + [f"{s}: T.int32" for s in scalars]
    return _func(params, body, decls)


def concat(dtype: str, arity: int):
    """y (outer, W) = [x0 | x1 | ... ] along columns; x_k is (outer, w_k), W = sum w_k (the host checks).

    Each (row, input) pair is one contiguous copy; rows go in output order.
    """
    xs = [f"x{k}" for k in range(arity)]
    decls = _ints("outer", "W", *(f"w{k}" for k in range(arity)))
    decls += [f'{x} = T.match_buffer({x}_h, (outer, w{k}), "{dtype}")' for k, x in enumerate(xs)]
    decls += [f'y = T.match_buffer(y_h, (outer, W), "{dtype}")']
    body = ["for o in range(outer):"]
    for k, x in enumerate(xs):
        off = " + ".join(["0"] + [f"w{j}" for j in range(k)])
        body += [f"    for j in range(w{k}):", f"        y[o, {off} + j] = {x}[o, j]"]
    params = [f"{x}_h: T.handle" for x in xs] + ["y_h: T.handle"]
    return _func(params, body, decls)

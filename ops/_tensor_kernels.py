"""TIR for the tensor-manipulation kernels (strided.py, take.py, tensor_ops.py, compare.py); build time only.

- `strided_copy`: y (RANK dims) = x read at an offset with one element stride per dim (0 = broadcast,
  negative = reversed). Serves slice, split and broadcast_to. The innermost stride picks the loop: 1 is
  a contiguous row copy (LLVM emits `memory.copy`; rows shorter than SHORT are unrolled moves), 0 is a
  splat (one load, v128 stores), anything else a scalar gather. Written as TVMScript: TE cannot express
  a branch on a scalar.
- `take_rows`: y (outer, m, inner) = a (outer, n, inner) rows picked by an int32 index vector; an
  index i < 0 reads row i + n; an index outside [-n, n - 1] fails the call (a TVM error the runtime raises
  as KernelError) before anything is read, so no index reads out of bounds or is silently clamped.
  Each picked row is one contiguous copy (unrolled moves below SHORT elements, e.g. a gather along the
  last axis).
- `broadcast_map` (where, comparisons): an elementwise map over inputs read with per-input strides (TE),
  one kernel per inner-dim pattern.

Every extent is symbolic or an int scalar, so one kernel serves every shape.
"""

from __future__ import annotations

import tvm
from tvm import te

from ._layout_kernels import _func, _ints

RANK = 6  # the strided copy's fixed output rank (the host pads with size-1 dims)
MAP_RANK = 5  # broadcast_map's fixed output rank
VEC = 16
SHORT = 8  # rows shorter than this are copied by unrolled scalar moves: one `memory.copy` each costs more


def strided_copy(dtype: str):
    """y[i0..i5] = x[off + i0*s0 + ... + i5*s5]; y is RANK-D, x flat."""
    d = [f"d{k}" for k in range(RANK)]
    i = [f"i{k}" for k in range(RANK - 1)]
    base = "off + " + " + ".join(f"i{k} * s{k}" for k in range(RANK - 1))
    yi = ", ".join(i)
    decls = _ints("n", *d) + [
        f'x = T.match_buffer(x_h, (n,), "{dtype}")',
        f'y = T.match_buffer(y_h, ({", ".join(d)}), "{dtype}")',
    ]
    last = f"d{RANK - 1}"
    body = [
        f"for {yi} in T.grid({', '.join(d[:-1])}):",
        f"    if s{RANK - 1} == 1 and {last} >= {SHORT}:",
        f"        for j in range({last}):",
        f"            y[{yi}, j] = x[{base} + j]",
        f"    elif s{RANK - 1} == 1:",
        f"        for j in T.unroll({SHORT}):",
        f"            if j < {last}:",
        f"                y[{yi}, j] = x[{base} + j]",
        f"    elif s{RANK - 1} == 0:",
        f"        for jo in range({last} // {VEC}):",
        f"            for jv in T.vectorized({VEC}):",
        f"                y[{yi}, jo * {VEC} + jv] = x[{base}]",
        f"        for j in range({last} % {VEC}):",
        f"            y[{yi}, {last} // {VEC} * {VEC} + j] = x[{base}]",
        "    else:",
        f"        for j in range({last}):",
        f"            y[{yi}, j] = x[{base} + j * s{RANK - 1}]",
    ]
    params = ["x_h: T.handle", "y_h: T.handle", "off: T.int32"] + [f"s{k}: T.int32" for k in range(RANK)]
    return _func(params, body, decls)


def take_rows(dtype: str):
    """y[o, k, :] = a[o, wrap(idx[k]), :]: whole-row copies, after every index is checked."""
    decls = _ints("outer", "n", "inner", "m") + [
        f'a = T.match_buffer(a_h, (outer, n, inner), "{dtype}")',
        'idx = T.match_buffer(idx_h, (m,), "int32")',
        f'y = T.match_buffer(y_h, (outer, m, inner), "{dtype}")',
    ]
    body = [
        "for k in range(m):",
        '    assert -n <= idx[k] and idx[k] < n, "an index is out of range [-n, n - 1] for the axis of size n"',
        "for o, k in T.grid(outer, m):",
        "    r: T.int32 = T.if_then_else(idx[k] < 0, idx[k] + n, idx[k])",
        f"    if inner >= {SHORT}:",
        "        for j in range(inner):",
        "            y[o, k, j] = a[o, r, j]",
        "    else:",
        f"        for j in T.unroll({SHORT}):",
        "            if j < inner:",
        "                y[o, k, j] = a[o, r, j]",
    ]
    return _func(["a_h: T.handle", "idx_h: T.handle", "y_h: T.handle"], body, decls)


def broadcast_map(in_dtypes: tuple[str, ...], fn, variant: str):
    """out[i0..i4] = fn(*loads): each input flat, with an element stride per outer dim (0 = broadcast).

    variant: one letter per input for the innermost dim, "v" = runs along it (v128 loads), "s" = constant
    along it (one load, splatted). The inner loop is split by 16 and vectorised; the partition hint lets
    TVM peel the tail off so the full chunks have no per-lane predicate.
    """
    shape = [te.var(f"d{k}", "int32") for k in range(MAP_RANK)]
    ins, strides = [], []
    for k, dt in enumerate(in_dtypes):
        ins.append(te.placeholder((te.var(f"n{k}", "int32"),), dt, name=f"x{k}"))
        strides.append([te.var(f"x{k}_stride{j}", "int32") for j in range(MAP_RANK - 1)])

    def at(k: int, i):
        offset = sum((s * v for s, v in zip(strides[k], i[:-1], strict=True)), tvm.tirx.const(0, "int32"))
        return ins[k][offset + i[-1]] if variant[k] == "v" else ins[k][offset]

    out = te.compute(shape, lambda *i: fn(*(at(k, i) for k in range(len(ins)))), name="out")
    func = te.create_prim_func([*ins, out, *(s for group in strides for s in group)])
    sch = tvm.s_tir.Schedule(func)
    outer, inner = sch.split(sch.get_loops(sch.get_sblock("out"))[-1], [None, VEC])
    sch.vectorize(inner)
    sch.annotate(outer, "pragma_loop_partition_hint", 1)
    return sch.mod["main"]


def where(dtype: str, variant: str):
    """out = c ? x : y over (c, x, y) with c bool; see `broadcast_map`."""
    return broadcast_map(("bool", dtype, dtype), tvm.tirx.Select, variant)


def compare(dtype: str, op: str, variant: str):
    """out = x1 <op> x2 as bool, op one of eq, lt, le, gt, ge; see `broadcast_map`. Float compares are
    ordered, so NaN compares false, as in numpy."""
    fns = {"eq": lambda a, b: a == b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
    fns |= {"gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
    return broadcast_map((dtype, dtype), fns[op], variant)

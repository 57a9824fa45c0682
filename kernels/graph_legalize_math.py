"""Legalisations of the Relax math ops whose TVM lowering calls libm or computes the wrong ONNX value.

wasm has no libm: TVM's own legalisation of sin, cos, atan, sinh, ..., gelu and float mod calls sinf, cosf,
erff, fmodf, which wasm-ld cannot resolve. These use the op library's libm-free expressions instead
(ops/_fasttrig.py, ops/_fastmath.py, ops/unary.py). Shifts get ONNX's meaning for counts outside the type's
width (every bit shifted out), where TVM's lowering is LLVM's undefined shift. float16 goes through float32
(exact for these ops). Anything else falls back to TVM's own legalisation. Build-time only (imports TVM).
"""

from __future__ import annotations

import math

import tvm
from tvm import relax, te, tirx, topi

from .graph_schedule import _broadcast


def _dtype(expr) -> str:
    return str(expr.ty.dtype)


def _default(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    return tvm.ir.Op.get(call.op.name).get_attr("FLegalize")(bb, call)


def _float_map(fn, name: str):
    """x -> fn(x) elementwise for float32, and float16 through float32."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        dtype = _dtype(call.args[0])
        if dtype not in ("float32", "float16"):
            return _default(bb, call)
        return bb.call_te(
            lambda t: te.compute(t.shape, lambda *i: fn(t(*i).astype("float32")).astype(dtype), name=f"T_{name}"),
            call.args[0],
            primfunc_name_hint=name,
        )

    return legalize


def _mod(floor: bool):
    """C fmod (ONNX Mod fmod=1) or the divisor-signed remainder (fmod=0), exact, with IEEE edge cases."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        a, b = call.args
        dtype = _dtype(a)
        if dtype not in ("float32", "float16") or _dtype(b) != dtype:
            return _default(bb, call)
        from ..ops import _fastmath as fm

        def fn(x, y):
            return fm.fmod(x.astype("float32"), y.astype("float32"), floor=floor).astype(dtype)

        name = "floor_mod" if floor else "fmod"
        return bb.call_te(lambda x, y: _broadcast(x, y, fn, f"T_{name}"), a, b, primfunc_name_hint=name)

    return legalize


def _shift(left: bool):
    """x << n / x >> n with n outside [0, bits) giving 0 (left, unsigned right) or the sign (signed right)."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        a, b = call.args
        dtype = _dtype(a)
        if not (dtype.startswith("int") or dtype.startswith("uint")) or _dtype(b) != dtype:
            return _default(bb, call)
        bits = tvm.DataType(dtype).bits
        signed = dtype.startswith("int")

        def fn(x, n):
            zero = tirx.const(0, dtype)
            outside = tirx.any(n < zero, n >= tirx.const(bits, dtype)) if signed else n >= tirx.const(bits, dtype)
            if left:
                return tirx.Select(outside, zero, x << n)
            fill = x >> tirx.const(bits - 1, dtype) if signed else zero
            return tirx.Select(outside, fill, x >> n)

        name = "left_shift" if left else "right_shift"
        return bb.call_te(lambda x, y: _broadcast(x, y, fn, f"T_{name}"), a, b, primfunc_name_hint=name)

    return legalize


def _reduced(fn, name: str):
    """sin / cos / tan of float32 (float16 through float32) with the exact argument reduction beyond
    |x| = 8192 (ops/_trig_reduce.py; positional encodings reach there)."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        from ..ops._fasttrig import exact_everywhere

        dtype = _dtype(call.args[0])
        if dtype not in ("float32", "float16"):
            return _default(bb, call)

        def compute(t):
            f = te.compute(t.shape, lambda *i: t(*i).astype("float32"), name=f"T_{name}_in")
            y = exact_everywhere(f, fn)
            return te.compute(t.shape, lambda *i: y(*i).astype(dtype), name=f"T_{name}")

        return bb.call_te(compute, call.args[0], primfunc_name_hint=name)

    return legalize


def _gelu_tanh(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    x = call.args[0]
    if _dtype(x) != "float32":
        return _default(bb, call)

    def compute(t: te.Tensor) -> te.Tensor:
        c, k, half, one = (tirx.const(v, "float32") for v in (math.sqrt(2 / math.pi), 0.044715, 0.5, 1.0))
        inner = te.compute(t.shape, lambda *i: c * (t(*i) + k * t(*i) * t(*i) * t(*i)), name="T_gelu_inner")
        th = topi.fast_tanh(inner)
        return te.compute(t.shape, lambda *i: half * t(*i) * (one + th(*i)), name="T_gelu_tanh")

    return bb.call_te(compute, x, primfunc_name_hint="gelu_tanh")


def _gelu(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    if _dtype(call.args[0]) != "float32":
        return _default(bb, call)
    from ..ops import unary

    row = next(r for r in unary.ROWS if r.name == "gelu")
    return bb.call_te(row.te_expr, call.args[0], primfunc_name_hint="gelu")


def _extreme(is_max: bool):
    """Float max / min reductions that start from -inf / +inf: topi's start from the largest finite value, so
    a row of -inf (a fully masked attention row) reduced to -3.4e38 and `max == -inf` tests failed."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        x = call.args[0]
        dtype = _dtype(x)
        nd = len(x.ty.shape.values) if x.ty.shape is not None else -1
        if dtype not in ("float32", "float16", "float64") or nd < 1:
            return _default(bb, call)
        axes = sorted(int(a) % nd for a in call.attrs.axis) if call.attrs.axis is not None else list(range(nd))
        keep = bool(call.attrs.keepdims)
        start = -math.inf if is_max else math.inf
        reducer = te.comm_reducer(
            (lambda a, b: te.max(a, b)) if is_max else (lambda a, b: te.min(a, b)),
            lambda t: tirx.const(start, t),
            name="max_from_inf" if is_max else "min_from_inf",
        )

        def compute(t: te.Tensor) -> te.Tensor:
            red = {a: te.reduce_axis((0, t.shape[a]), f"k{a}") for a in axes}
            shape = (
                [1 if a in red else t.shape[a] for a in range(nd)]
                if keep
                else [t.shape[a] for a in range(nd) if a not in red]
            )

            def body(*i):
                it = iter(i)
                idx = []
                for a in range(nd):
                    if a in red:
                        if keep:
                            next(it)
                        idx.append(red[a])
                    else:
                        idx.append(next(it))
                return reducer(t(*idx), axis=list(red.values()))

            return te.compute(shape, body, name="T_max" if is_max else "T_min")

        return bb.call_te(compute, x, primfunc_name_hint="max" if is_max else "min")

    return legalize


def math_legalizations() -> dict:
    """Relax op name -> legalisation (see the module docstring)."""
    from ..ops import _fasttrig as ft

    table = {
        f"relax.{name}": _float_map(getattr(ft, name), name)
        for name in ("asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh")
    }
    table |= {f"relax.{name}": _reduced(getattr(ft, name), name) for name in ("sin", "cos", "tan")}
    table["relax.mod"] = _mod(floor=False)
    table["relax.floor_mod"] = _mod(floor=True)
    table["relax.left_shift"] = _shift(left=True)
    table["relax.right_shift"] = _shift(left=False)
    table["relax.nn.gelu"] = _gelu
    table["relax.max"] = _extreme(is_max=True)
    table["relax.min"] = _extreme(is_max=False)
    table["relax.nn.gelu_tanh"] = _gelu_tanh
    return table


__all__ = ["math_legalizations"]

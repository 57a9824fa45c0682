"""Index checks inside a whole graph: Gather, GatherElements, GatherND, ScatterElements and ScatterND refuse
an out-of-range index instead of reading (or writing) whatever lies past their tensor.

TVM legalises take / gather / scatter without a bounds check ("fast" mode): one past the end reads the
neighbouring buffer, far past it traps. Before each of those Relax calls, the indices go through a small
kernel that checks every one against the data's static extent (ONNX's negative indices included) and
copies it through: an index outside [-n, n-1] fails the kernel's TIR assert, so the plan runner stops at
that step and the session raises IndexError naming the op, the step and the valid range. OneHot needs no
check: an index outside [-depth, depth-1] gives a row of off_value in ONNX, and TVM's one_hot compares,
never loads. Build-time only (imports TVM).
"""

from __future__ import annotations

from tvm import relax
from tvm.script.parser import parse

#: the marker the graph runtime turns into IndexError (kernels/graph_runtime.py INDEX_MESSAGE)
MESSAGE = "index out of range"


def _check_func(shape: tuple[int, ...], dtype: str, bounds: tuple[int, ...], what: str, wrapped: bool):
    """out = idx, after asserting it is in [0, n) (`wrapped`: the importer already added n to ONNX's negative
    indices) or [-n, n); `bounds` has one n, or one per last-dim component (ND). Messages give ONNX's range."""
    lead = ", ".join(f"p{k}" for k in range(len(shape) - 1))
    body = []
    loops = f"for {lead} in T.grid({', '.join(map(str, shape[:-1]))}):" if lead else None
    pad = "        " if loops else "    "
    at = f"{lead}, " if lead else ""
    if loops:
        body.append("    " + loops)
    if not shape:  # a scalar index (Gather of one row)
        n = bounds[0]
        body = [
            f"    assert {0 if wrapped else -n} <= idx[()] and idx[()] < {n}, "
            f'"{what}: {MESSAGE}, valid: [{-n}, {n - 1}]"',
            "    out[()] = idx[()]",
        ]
    elif len(bounds) == 1:
        n = bounds[0]
        body += [
            f"{pad}for j in range({shape[-1]}):",
            f"{pad}    assert {0 if wrapped else -n} <= idx[{at}j] and idx[{at}j] < {n}, "
            f'"{what}: {MESSAGE}, valid: [{-n}, {n - 1}]"',
            f"{pad}    out[{at}j] = idx[{at}j]",
        ]
    else:
        for j, n in enumerate(bounds):
            body += [
                f"{pad}assert {0 if wrapped else -n} <= idx[{at}{j}] and idx[{at}{j}] < {n}, "
                f'"{what}: {MESSAGE}, valid for index component {j}: [{-n}, {n - 1}]"',
                f"{pad}out[{at}{j}] = idx[{at}{j}]",
            ]
    dims = ", ".join(f"T.int64({d})" for d in shape) + ("," if len(shape) == 1 else "") if shape else ""
    src = "\n".join(
        [
            "@T.prim_func(s_tir=True)",
            "def main(idx_h: T.handle, out_h: T.handle):",
            '    T.func_attr({"tirx.noalias": True, "op_pattern": 8})',  # opaque: a step of its own, never fused
            f'    idx = T.match_buffer(idx_h, ({dims}), "{dtype}")',
            f'    out = T.match_buffer(out_h, ({dims}), "{dtype}")',
            '    with T.sblock("root"):',  # Relax's passes expect a root block
            *("    " + line for line in body),
        ]
    )
    return parse(src)


def _static(ty) -> tuple[int, ...] | None:
    try:
        return tuple(int(d) for d in ty.shape.values)
    except (AttributeError, TypeError):
        return None


def _checked(index_arg: int, what: str, bounds_of, wrapped: bool = True):
    """A legalisation: the call's index argument through a check kernel, then TVM's own legalisation.
    `wrapped`: Relax's ONNX importer has already mapped negative indices to n + i (a where before the op),
    and TVM's kernel reads the index as it is, so only [0, n) is valid there."""

    def legalize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
        import tvm

        default = tvm.ir.Op.get(call.op.name).get_attr("FLegalize")
        data, idx = call.args[0], call.args[index_arg]
        data_shape, idx_shape = _static(data.ty), _static(idx.ty)
        if data_shape is None or idx_shape is None or 0 in idx_shape:
            return default(bb, call)  # dynamic or empty: nothing to check here
        bounds = bounds_of(call, data_shape, idx_shape)
        func = _check_func(idx_shape, str(idx.ty.dtype), bounds, what, wrapped)
        gv = bb.add_func(func, f"check_{what.lower()}_indices")
        checked = bb.emit(relax.call_tir(gv, [idx], out_ty=idx.ty))
        args = list(call.args)
        args[index_arg] = checked
        return default(bb, bb.normalize(relax.Call(call.op, args, call.attrs, call.ty_args)))

    return legalize


def _axis_bound(call, data_shape, idx_shape) -> tuple[int, ...]:
    axis = call.attrs.axis
    axis = 0 if axis is None else int(axis)
    return (data_shape[axis % len(data_shape)],)


def _nd_bounds(batch_dims: int):
    def bounds(call, data_shape, idx_shape) -> tuple[int, ...]:
        b = int(call.attrs.batch_dims) if hasattr(call.attrs, "batch_dims") else batch_dims
        return tuple(data_shape[b + j] for j in range(idx_shape[-1]))

    return bounds


def index_check_legalizations() -> dict:
    return {
        "relax.take": _checked(1, "Gather", _axis_bound),
        "relax.gather_elements": _checked(1, "GatherElements", _axis_bound),
        "relax.scatter_elements": _checked(1, "ScatterElements", _axis_bound, wrapped=False),
        "relax.gather_nd": _checked(1, "GatherND", _nd_bounds(0)),
        "relax.scatter_nd": _checked(1, "ScatterND", _nd_bounds(0)),
    }

"""numpy functions `wasmops.numpy` builds from the op library's kernels: dot, square, var, std, stack, einsum,
and the view functions expand_dims / squeeze.

Each computes with the kernels (matmul, multiply, mean, concatenate, ...); reshapes of contiguous arrays
are views on the host, as in numpy (no data moves, nothing to compute). `einsum` runs the ONNX frontend's
Einsum translation (transposes, sums and batched matmuls) as one program on the op library.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..kernels.plan import Program
from ..kernels.runtime import default_runtime
from ..ops.spec import TensorRef
from .numpy_api import FUNCTIONS
from .numpy_compat import NOVALUE, finish, unsupported

_f = FUNCTIONS


def _view(x, shape) -> np.ndarray:
    """A reshape that is a view (a copy only if x is not contiguous), as numpy's."""
    return np.reshape(np.asarray(x), shape)


def square(x, /, out=None, *, dtype=None, **kwargs):
    """x * x (numpy.square)."""
    if kwargs:
        raise unsupported("square", f"{sorted(kwargs)}")
    return finish("square", _f["multiply"](x, x), out, dtype)


def dot(a, b, out=None):
    """numpy.dot: inner product of vectors, matrix product, and the sum over a's last axis and b's
    second-to-last for N-D operands (a matmul on the kernels)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return finish("dot", _f["multiply"](a, b), out)
    k = a.shape[-1]
    if b.shape[-2 if b.ndim > 1 else 0] != k:
        raise ValueError(f"wasmops.numpy.dot: shapes {a.shape} and {b.shape} not aligned")
    lhs = _view(a, (-1, k))
    if b.ndim == 1:
        rhs, tail = _view(b, (k, 1)), ()
    elif b.ndim == 2:
        rhs, tail = b, b.shape[1:]
    else:  # bring b's contracted axis to the front: (K, rest...) as one matrix
        axes = [b.ndim - 2, *range(b.ndim - 2), b.ndim - 1]
        rhs = _view(_f["transpose"](b, axes), (k, -1))
        tail = b.shape[:-2] + b.shape[-1:]
    y = _f["matmul"](lhs, rhs)
    return finish("dot", _view(y, a.shape[:-1] + tail), out)


def _moments(a, axis, ddof, keepdims, name: str):
    m = _f["mean"](a, axis=axis, keepdims=True)
    d = _f["subtract"](a, m)
    v = _f["mean"](_f["multiply"](d, d), axis=axis, keepdims=keepdims)
    if ddof:
        n = math.prod(np.shape(a)) // max(1, math.prod(np.shape(m)))
        if n - ddof <= 0:
            raise ValueError(f"wasmops.numpy.{name}: ddof={ddof} leaves no degrees of freedom ({n} values)")
        v = _f["multiply"](v, np.asarray(n / (n - ddof), v.dtype))
    return v


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=NOVALUE, correction=NOVALUE):
    """numpy.var: mean((a - mean(a))**2), divided by n - ddof instead of n when ddof is given."""
    if where is not True or mean is not NOVALUE:
        raise unsupported("var", "where= / mean=")
    ddof = ddof if correction is NOVALUE else correction
    return finish("var", _moments(a, axis, ddof, bool(keepdims), "var"), out, dtype)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=NOVALUE, correction=NOVALUE):
    """numpy.std: sqrt(var)."""
    if where is not True or mean is not NOVALUE:
        raise unsupported("std", "where= / mean=")
    ddof = ddof if correction is NOVALUE else correction
    return finish("std", _f["sqrt"](_moments(a, axis, ddof, bool(keepdims), "std")), out, dtype)


def expand_dims(a, axis):
    """numpy.expand_dims (a view: nothing to compute)."""
    return np.expand_dims(np.asarray(a), axis)


def squeeze(a, axis=None):
    """numpy.squeeze (a view: nothing to compute)."""
    return np.squeeze(np.asarray(a), axis)


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """numpy.stack: a new axis on each array, then the kernels' concatenate."""
    arrays = [np.asarray(x) for x in arrays]
    if not arrays:
        raise ValueError("wasmops.numpy.stack: need at least one array to stack")
    if casting != "same_kind":
        raise unsupported("stack", f"casting={casting!r}")
    if len({x.shape for x in arrays}) != 1:
        raise ValueError("wasmops.numpy.stack: all input arrays must have the same shape")
    axis = axis % (arrays[0].ndim + 1) if -arrays[0].ndim - 1 <= axis <= arrays[0].ndim else axis
    if not 0 <= axis <= arrays[0].ndim:
        raise np.exceptions.AxisError(f"wasmops.numpy.stack: axis {axis} is out of bounds")
    return finish("stack", _f["concatenate"]([np.expand_dims(x, axis) for x in arrays], axis=axis), out, dtype)


_EINSUM: OrderedDict[tuple, Program] = OrderedDict()  # equation + operand signatures -> program


def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """numpy.einsum with an explicit subscripts string ('ij,jk->ik', '...' broadcasting, repeated letters for
    diagonals), computed by transposes, reductions and batched matmuls on the kernels."""
    from ..registry import onnx_einsum  # noqa: F401 - registers the Einsum translation
    from ..registry.graph import GraphBuilder
    from ..registry.table import REGISTRY, UnsupportedError

    if not isinstance(subscripts, str):
        raise unsupported("einsum", "the interleaved (operand, sublist) form")
    arrays = [np.ascontiguousarray(x) for x in operands]
    for i, x in enumerate(arrays):
        if x.dtype != np.float32:
            from ..ops.spec import DtypeError

            raise DtypeError("einsum", f"operand {i}", x.dtype, (np.dtype("float32"),))
    key = (subscripts, tuple(x.shape for x in arrays))
    rt = default_runtime()
    program = _EINSUM.get(key)
    if program is None:
        g = GraphBuilder()
        g.label = f"einsum {subscripts!r}"
        refs = {f"x{i}": TensorRef(x.shape, x.dtype) for i, x in enumerate(arrays)}
        try:
            y = REGISTRY.lookup("onnx", "Einsum").translate(g, {"equation": subscripts}, *refs.values())
        except UnsupportedError as exc:
            raise ValueError(f"wasmops.numpy.einsum: {exc}") from None
        if not isinstance(y, TensorRef) or any(y.buffer is r.buffer for r in refs.values()):
            y = g.op("reshape", y, tuple(np.shape(y)))  # the output must be a buffer of its own
        with rt.lock:
            program = Program(rt, g.steps, refs, {"y": y})
        _EINSUM[key] = program
        if len(_EINSUM) > 32:
            _EINSUM.popitem(last=False)[1].close()
    with rt.lock:
        result = program.run({f"x{i}": x for i, x in enumerate(arrays)})["y"]
    return finish("einsum", np.asarray(result), out, dtype)


EXTRAS = {
    "dot": dot,
    "square": square,
    "var": var,
    "std": std,
    "stack": stack,
    "expand_dims": expand_dims,
    "squeeze": squeeze,
    "einsum": einsum,
}

"""Element selection and conversion: where (numpy broadcasting), cast (float32 / int32 / bool), logical_not.

- cast: blocked elementwise kernels `<dt>_cast_to_<dt>`, `<dt>_cast_to_bool`, `<dt>_cast_from_bool`.
  float32 -> int32 truncates toward zero (numpy's astype); NaN becomes 0 and values beyond the int32 range
  saturate (wasm's i32.trunc_sat; numpy leaves those undefined). A cast to the same dtype is a copy.
- where: the host folds the three-way broadcast into at most 5 dims (ops/strided.py `fold`) and passes
  each input flat with one element stride per outer dim (0 where broadcast). The kernel
  `<dt>_where_<c><x><y>` (a `broadcast_map`, ops/_tensor_kernels.py) has one letter per input for the
  innermost dim: v = runs along it (v128 loads), s = constant along it (one load, splatted), so every
  variant's inner loop is a vector select. The condition is read as bool; an int32 or float32
  condition is first cast to bool (`!= 0`) in the same call chain, so it never leaves wasm memory.
  `map_call` / `operand_pair` are shared with the comparisons (ops/compare.py).
- logical_not: a bool -> bool blocked kernel (ONNX Not).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .spec import INT, PREV, TENSOR, Call, Kernel, Op
from .strided import broadcast_strides, fold, kernel_prefix

VALUES = ("float32", "int32")
MAP_RANK = 5  # = _tensor_kernels.MAP_RANK
#: target dtypes `cast` accepts; int64 is computed as int32, the library's index dtype (ONNX sessions narrow it)
CAST_TARGETS = {"float32": "float32", "int32": "int32", "int64": "int32", "bool": "bool"}
_I32 = np.iinfo(np.int32)


def _blocked(name: str, src: str, dst: str, fn):
    """A Kernel converting (blocks, 16) of src to dst elementwise with fn(value) -> PrimExpr."""

    def build():
        from tvm import te

        from .simd_schedules import dims, prim_func, schedule_injective
        from .spec import BLOCK

        (n,) = dims("blocks")
        x = te.placeholder((n, BLOCK), src, name="x")
        y = te.compute(x.shape, lambda *i: fn(x[i]), name="y")
        return schedule_injective(prim_func([x, y]))

    return Kernel(name, build, (TENSOR, TENSOR))


def _to_bool(v):
    import tvm

    if v.dtype == "int32":
        return v != 0
    # float != 0 compiles to an ordered compare (NaN -> false); numpy says NaN is true: test the bits
    return tvm.tirx.reinterpret("int32", v) & 0x7FFFFFFF != 0


def _from_bool(dtype: str):
    def fn(v):
        import tvm

        return tvm.tirx.Select(v, tvm.tirx.const(1, dtype), tvm.tirx.const(0, dtype))

    return fn


def _cast_kernels() -> list[Kernel]:
    ks = [
        _blocked("f32_cast_to_i32", "float32", "int32", lambda v: v.astype("int32")),
        _blocked("i32_cast_to_f32", "int32", "float32", lambda v: v.astype("float32")),
    ]
    for dt in VALUES:
        p = kernel_prefix(np.dtype(dt))
        ks.append(_blocked(f"{p}_cast_to_bool", dt, "bool", _to_bool))
        ks.append(_blocked(f"{p}_cast_from_bool", "bool", dt, _from_bool(dt)))
    return ks


def _cast_calls(x, target: np.dtype) -> list[Call]:
    """The blocked calls converting x to target (x's dtype and target are both supported)."""
    src = x.dtype
    if src == target:
        if src == np.bool_:  # no bool copy kernel: through int32 and back
            first = _cast_calls(x, np.dtype("int32"))
            return first + [Call("i32_cast_to_bool", [PREV], (x.size,), target, result_shape=x.shape, blocked=True)]
        return [Call(f"{kernel_prefix(src)}_copy", [x.reshape(-1)], (x.size,), src, result_shape=x.shape)]
    if target == np.bool_:
        name = f"{kernel_prefix(src)}_cast_to_bool"
    elif src == np.bool_:
        name = f"{kernel_prefix(target)}_cast_from_bool"
    else:
        name = f"{kernel_prefix(src)}_cast_to_{kernel_prefix(target)}"
    # flat out_shape: a chain's next call (where) reads this output as a 1-D buffer
    return [Call(name, [x], (x.size,), target, result_shape=x.shape, blocked=True)]


class Cast(Op):
    """cast(x, dtype): x.astype(dtype) between float32, int32 and bool."""

    name = "cast"
    uses = ("reshape",)  # same-dtype casts copy with `<dt>_copy`

    def kernels(self) -> list[Kernel]:
        return _cast_kernels()

    def _target(self, dtype: Any) -> np.dtype:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            raise TypeError(f"{self.name}: {dtype!r} is not a dtype") from None
        if name not in CAST_TARGETS:
            raise TypeError(f"{self.name}: cannot cast to {name}; supported: {', '.join(CAST_TARGETS)}")
        return np.dtype(CAST_TARGETS[name])

    def reference(self, x, dtype) -> np.ndarray:
        x, target = np.asarray(x), self._target(dtype)
        if target == np.int32 and x.dtype.kind == "f":
            wide = np.nan_to_num(x.astype(np.float64), nan=0.0)
            return np.clip(wide, _I32.min, _I32.max).astype(np.int32)  # saturating, truncating toward zero
        return x.astype(target)

    def plan(self, x: np.ndarray, dtype: str | np.dtype) -> Call | list[Call]:
        """Convert x to `dtype` (numpy's astype), as a new array.

        x: any shape, float32, int32 or bool. dtype: "float32", "int32", "bool" or "int64" (a dtype name,
        np.dtype or type); int64 gives int32, the dtype the library computes indices in. float -> int
        truncates toward zero; NaN gives 0 and out-of-range values saturate to the int32 limits. Anything
        -> bool is `x != 0` (NaN is true); bool -> numbers gives 0 / 1.
        """
        x = self.tensor(x, "x", VALUES + ("bool",))
        calls = _cast_calls(x, self._target(dtype))
        return calls[0] if len(calls) == 1 else calls


def operand_pair(op: Op, x: Any, y: Any, names: tuple[str, str] = ("x", "y")) -> tuple[Any, Any]:
    """Two value operands of one dtype (float32 or int32); a Python scalar takes the other operand's dtype
    (numpy's weak scalars), two Python scalars give float32 if either is a float, else int32."""
    scalars = [isinstance(v, bool | int | float) for v in (x, y)]
    if all(scalars):
        dt = np.dtype("float32" if any(isinstance(v, float) for v in (x, y)) else "int32")
        return np.asarray(x, dt), np.asarray(y, dt)
    if any(scalars):
        k = scalars.index(False)  # the array operand
        arr = op.tensor((x, y)[k], names[k], VALUES)
        s = op.weak_scalar((x, y)[1 - k], arr, names[1 - k], names[k])
        return (arr, s) if k == 0 else (s, arr)
    a, b = op.tensor(x, names[0], VALUES), op.tensor(y, names[1], VALUES)
    op.same_dtype(a, b)
    return a, b


def broadcast_shape(op: Op, *arrays) -> tuple[int, ...]:
    """numpy's broadcast shape of the arrays, or a ValueError naming the op."""
    try:
        return tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        shapes = " ".join(str(a.shape) for a in arrays)
        raise op.fail(f"operands could not be broadcast together with shapes {shapes}") from None


def map_call(op: Op, kernel: str, inputs: list, out_dtype: np.dtype, prev: bool = False) -> Call:
    """A `broadcast_map` Call (ops/_tensor_kernels.py): fold the broadcast into MAP_RANK dims, pick the
    kernel variant `<kernel>_<v|s per input>`, pass each input flat with its outer strides.

    prev: the first input is the previous call's output (a flat buffer of the same size), not an array.
    """
    out_shape = broadcast_shape(op, *inputs)
    dims = fold(out_shape, [broadcast_strides(v.shape, out_shape) for v in inputs])
    if len(dims) > MAP_RANK:
        shapes = ", ".join(str(v.shape) for v in inputs)
        raise op.fail(f"shapes {shapes} broadcast in {len(dims)} unmergeable dims; at most {MAP_RANK} are supported")
    n = len(inputs)
    dims = [(1, (0,) * n)] * (MAP_RANK - len(dims)) + dims
    # an inner extent of 1 (one element, or empty) reads index 0 either way: use the all-"v" kernel
    variant = "".join("v" if s or dims[-1][0] <= 1 else "s" for s in dims[-1][1])
    flat = [PREV if prev and k == 0 else v.reshape(-1) for k, v in enumerate(inputs)]
    scalars = tuple(d[1][k] for k in range(n) for d in dims[:-1])
    return Call(f"{kernel}_{variant}", flat, tuple(d[0] for d in dims), out_dtype, scalars, out_shape)


def map_variants(n: int) -> list[str]:
    """Kernel variants of an n-input broadcast_map: every v/s pattern but all-s (see map_call)."""
    return ["".join(v) for v in itertools.product("vs", repeat=n) if "v" in v]


class Where(Op):
    """where(condition, x, y): numpy.where with broadcasting."""

    name = "where"
    uses = ("cast",)

    def kernels(self) -> list[Kernel]:
        def build(dtype: str, variant: str):
            from . import _tensor_kernels

            return _tensor_kernels.where(dtype, variant)

        params = (TENSOR,) * 4 + (INT,) * (3 * (MAP_RANK - 1))
        return [
            Kernel(f"{kernel_prefix(np.dtype(dt))}_where_{v}", lambda dt=dt, v=v: build(dt, v), params)
            for dt in VALUES
            for v in map_variants(3)
        ]

    def _operands(self, condition, x, y):
        cond = self.tensor(condition, "condition", ("bool", "int32", "float32"))
        return (cond, *operand_pair(self, x, y))

    def reference(self, condition, x, y) -> np.ndarray:
        cond, a, b = self._operands(condition, x, y)
        broadcast_shape(self, cond, a, b)
        return np.where(np.asarray(cond).astype(bool), a, b)

    def plan(
        self, condition: np.ndarray, x: np.ndarray | float | int, y: np.ndarray | float | int
    ) -> Call | list[Call]:
        """Pick x where condition is true, else y (numpy.where with three arguments), as a new array.

        condition: bool, or int32 / float32 meaning `!= 0`. x, y: float32 or int32 arrays of one dtype, or
        Python scalars (which take the other operand's dtype). All three broadcast together (numpy rules);
        the output has the broadcast shape and x's dtype. At most 5 dims may remain after size-1 dims
        are dropped and dims with the same broadcast pattern are merged (always true for rank <= 5).
        """
        cond, a, b = self._operands(condition, x, y)
        broadcast_shape(self, cond, a, b)  # fail before planning the condition's cast
        calls = [] if cond.dtype == np.bool_ else _cast_calls(cond, np.dtype("bool"))
        where = map_call(self, f"{kernel_prefix(a.dtype)}_where", [cond, a, b], a.dtype, prev=bool(calls))
        return calls + [where] if calls else where


class LogicalNot(Op):
    """logical_not(x): numpy.logical_not on bool arrays."""

    name = "logical_not"

    def kernels(self) -> list[Kernel]:
        return [_blocked("bool_logical_not", "bool", "bool", lambda v: _not(v))]

    def reference(self, x) -> np.ndarray:
        return np.logical_not(np.asarray(x))

    def plan(self, x: np.ndarray) -> Call:
        """Elementwise NOT of a bool array (numpy.logical_not, ONNX Not); any shape, dtype bool."""
        x = self.tensor(x, "x", ("bool",))
        return Call("bool_logical_not", [x], x.shape, x.dtype, blocked=True)


def _not(v):
    import tvm

    return tvm.tirx.Not(v)


OPS = [Cast(), Where(), LogicalNot()]

"""Hypothesis strategies for differential fuzzing, one per op family, chosen by a table (FAMILIES).

Each strategy draws an `Example` (positional inputs + attributes) for one op: generated shapes (0-size,
1-size, odd dims, broadcasting), dtypes the op serves, attributes (axes, negative axes, keepdims) and values
that include NaN, +-inf, subnormals, huge and tiny numbers. Ops without a family of their own are fuzzed
from their test cases (tests/cases): the shapes and attributes of a case, with values drawn afresh.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wasmops.ops import all_ops

from ..cases import Case, all_cases
from .derived import DERIVED

F32 = np.dtype("float32")
I32 = np.dtype("int32")
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-40, 1e-38, 3.4e38, -3.4e38, 1e30, -1e-30, 1.0, -1.0]


#: value sets checked per drawn structure (shapes, dtypes, attributes): hypothesis spends ~3 ms drawing one
#: structure and a check costs well under 1 ms, so each draw is checked on this many fresh value sets
VALUES_PER_DRAW = 8


@dataclass
class Example:
    """Inputs and attributes of one check; `more`: further input sets of the same shapes and attributes."""

    inputs: tuple[Any, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    more: list[tuple[Any, ...]] = field(default_factory=list)

    def all_inputs(self) -> list[tuple[Any, ...]]:
        return [self.inputs, *self.more]

    def __repr__(self) -> str:  # big arrays summarised: the failure log's .npz (tests/fuzz/replay.py) has them whole
        with np.printoptions(threshold=64, edgeitems=3):
            return f"Example(inputs={self.inputs!r}, attrs={self.attrs!r}, more=[{len(self.more)} input sets])"

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """hypothesis pretty-prints a dataclass field by field, every input set in full (40-180 kB): not this."""
        printer.text(repr(self))


def floats() -> st.SearchStrategy[float]:
    """Any float32, specials weighted in: NaN, +-inf, subnormals, the extremes, signed zeros."""
    return st.one_of(
        st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.sampled_from(SPECIAL),
        st.floats(-4.0, 4.0, width=32),
    )


#: ops that sum products: float32 and the float64 reference overflow at different points near 3.4e38 (and
#: +inf + -inf is NaN in one summation order, -inf in another), so finite values stay within +-2**50; NaN,
#: +-inf, subnormals and tiny values are still drawn.
ACCUMULATING = {
    "conv2d", "conv_transpose2d", "dense", "matmul", "lrn", "batch_norm", "layer_norm", "avg_pool2d",
    "global_avg_pool2d", "grid_sample", "resize2d", "sum", "mean", "prod", "cumsum", "cumprod",
    "softmax", "log_softmax",
    # training ops: gradients sum dy over windows, rows, images; statistics and updates sum terms too
    "bias_grad", "dense_backward_data", "dense_backward_weight", "conv2d_backward_data", "conv2d_backward_weight",
    "avg_pool2d_backward", "max_pool2d_backward", "batch_norm_train", "batch_norm_backward",
    "layer_norm_backward", "softmax_cross_entropy", "sgd_update", "adam_update",
}  # fmt: skip
#: ops whose inputs have different natural domains (one entry per positional input; the others use `domain`):
#: a gradient taken from the forward's output gets an output: sigmoid / tanh / softmax's lie in [-1, 1] (y
#: beyond makes 1 - y² overflow where the float64 reference does not), log_softmax's in [-inf, 0]; the
#: incoming gradient dy is any float32 (an elementwise product), or bounded where it is summed
INPUT_DOMAINS = {
    "sigmoid_grad": ("unit", False),
    "tanh_grad": ("unit", False),
    "softmax_grad": ("unit", True),
    # and an infinite dy times a factor that is positive in float64 but underflows to 0 in float32 (f'(x) of
    # gelu below x ~ -14, silu below ~ -103; exp(y) of a log-probability below ~ -104) is ±inf in the
    # reference and 0 * inf = NaN here: dy is drawn without ±inf there (NaN, huge and subnormal stay)
    "log_softmax_grad": ("nonpositive", "finite"),
    **dict.fromkeys(("gelu_grad", "gelu_tanh_grad", "silu_grad"), (False, "no_inf")),
    # the same with an infinite gamma times (dy - ...) * invstd underflowing (subnormal dy, small invstd), or
    # times x - mean, 0 in float32 for subnormal x where float64 resolves the mean: gamma is drawn finite
    "batch_norm_backward": (True, True, "finite"),
    # inference batch_norm likewise: an infinite scale times (x - mean) * rstd, which underflows to 0 in float32
    # for a subnormal x - mean where float64 keeps 4e-48, is NaN here and ±inf there: scale is drawn finite
    # (x, bias, mean and var still get NaN, ±inf and subnormals)
    "batch_norm": (True, "finite"),
    "batch_norm_train": (True, "finite"),
    # dense labels are distributions: an infinite label times a logit at the max (max - logit = 0) is NaN
    # where the reference's label * (shifted - lse) is ±inf (class indices are not redrawn)
    "softmax_cross_entropy": (True, "unit"),
}


#: products: float32 overflows (or underflows to 0) long before the float64 reference, and then 0 * inf is NaN
#: in one and not the other: factors stay in [-1, 1] (NaN included)
PRODUCTS = {"prod", "cumprod"}
#: grid_sample: its grid's natural domain is [-1, 1], and bicubic taps of huge mixed-sign values cancel
#: (float32 rounding then exceeds any relative tolerance), so its values are drawn from [-1, 1] too
#: tolerances the fuzz allows beyond the op's test cases, with the reason
LOOSER = {
    "grid_sample": (1e-4, 1e-4),  # bicubic weights on drawn coordinates: float32 rounding of 16 taps
    # exp(x / alpha) with x / alpha up to 88: the float32 rounding of the quotient (6e-8) grows 88-fold in exp
    "celu": (1e-5, 1e-6),
}


def finite_floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(-(2.0**50), 2.0**50, width=32, allow_subnormal=True), st.sampled_from([0.0, -0.0, 1e-45, 1.0])
    )


def unit_floats() -> st.SearchStrategy[float]:
    return st.one_of(st.floats(-1, 1, width=32), st.sampled_from([np.nan, -0.0, 1e-45, 1.0, -1.0]))


def unit_finite_floats() -> st.SearchStrategy[float]:
    return st.one_of(st.floats(-1, 1, width=32), st.sampled_from([-0.0, 1e-45, 1.0, -1.0]))


def no_inf_floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(width=32, allow_nan=True, allow_infinity=False, allow_subnormal=True),
        st.sampled_from([s for s in SPECIAL if not np.isinf(s)]),
        st.floats(-4.0, 4.0, width=32),
    )


def nonpositive_floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(-(2.0**50), 0.0, width=32, allow_subnormal=True),
        st.sampled_from([np.nan, -np.inf, -0.0, -1e-45, -1.0]),
    )


def bounded_floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(-(2.0**50), 2.0**50, width=32, allow_subnormal=True),
        st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-40, 1e-30, 1.0]),
        st.floats(-4.0, 4.0, width=32),
    )


def elements(dtype: np.dtype, bounded: bool | str = False) -> st.SearchStrategy:
    """`bounded`: False (every float), True (finite within 2**50, plus specials), or 'finite'."""
    low, high = -(2**31), 2**31 - 1
    if dtype == F32:
        pick = {
            "finite": finite_floats,
            "unit": unit_floats,
            "unit_finite": unit_finite_floats,
            "nonpositive": nonpositive_floats,
            "no_inf": no_inf_floats,
            True: bounded_floats,
            False: floats,
        }
        return pick[bounded]()
    if dtype == np.bool_:
        return st.booleans()
    return st.one_of(st.integers(low, high), st.integers(-8, 8))


def domain(name: str) -> bool | str:
    """How op `name`'s float inputs are drawn (see elements)."""
    if name == "grid_sample":  # finite: non-finite grid coordinates are unspecified (README, Reliability)
        return "unit_finite"
    if name in PRODUCTS:
        return "unit"
    return name in ACCUMULATING


#: arrays up to this many values are drawn value by value (hypothesis shrinks them); larger ones are filled by
#: numpy from a drawn seed, scale and pool of drawn values (drawing thousands of values one by one made the
#: fuzz spend 80% of its time in hypothesis: 10,000 examples per op would have taken hours)
SMALL = 4
#: the largest magnitude of each domain's finite values (see elements)
LIMIT = {
    False: 3.4e38, True: 2.0**50, "finite": 2.0**50, "unit": 1.0, "unit_finite": 1.0,
    "nonpositive": 2.0**50, "no_inf": 3.4e38,
}  # fmt: skip
SCALES = (1e-38, 1e-3, 1.0, 4.0, 1e3, 1e15, 1e30, 3.4e38)


def array(dtype, shape, bounded: bool | str = False) -> st.SearchStrategy[np.ndarray]:
    dtype = np.dtype(dtype)
    if int(np.prod(shape)) <= SMALL:
        return hnp.arrays(dtype, shape, elements=elements(dtype, bounded), fill=st.nothing())
    return _filled(dtype, tuple(shape), bounded)


@st.composite
def _filled(draw, dtype: np.dtype, shape: tuple[int, ...], bounded: bool | str) -> np.ndarray:
    """Values from numpy under a drawn seed and scale, a drawn fraction of them replaced by drawn values
    (specials of the domain included: NaN, +-inf, subnormals, extremes)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = int(np.prod(shape))
    if dtype == F32:
        scale = draw(st.sampled_from([s for s in SCALES if s <= LIMIT[bounded]]))
        out = (rng.uniform(-1.0 if bounded != "nonpositive" else 0.0, 1.0, size) * scale).astype(np.float32)
        if bounded == "nonpositive":
            out = -out
    elif dtype == np.bool_:
        out = rng.random(size) < draw(st.sampled_from([0.0, 0.5, 1.0]))
    else:
        high = draw(st.sampled_from([8, 2**31 - 1]))
        out = rng.integers(-high - (high > 8), high, size, endpoint=True).astype(dtype)
    fraction = draw(st.sampled_from([0.0, 0.01, 0.2, 1.0]))
    if fraction:
        pool = np.array(draw(st.lists(elements(dtype, bounded), min_size=1, max_size=8)), dtype=dtype)
        where = rng.random(size) < fraction
        out[where] = rng.choice(pool, int(where.sum()))
    return out.reshape(shape)


#: shapes as plain lists of sides (hypothesis' array_shapes costs ~3x more per example; 0- and 1-size sides and
#: odd sides come up often either way)
SIDES = st.one_of(st.integers(0, 7), st.sampled_from([0, 1, 1, 5, 17]))
SHAPES = st.lists(SIDES, max_size=4).map(tuple)
NONEMPTY = st.lists(SIDES.map(lambda n: max(n, 1)), min_size=1, max_size=4).map(tuple)


@st.composite
def broadcast_pair(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast: the second drops leading dims of the first and sets some sides to 1 (or the
    first's to 1 where the second keeps its side), either order."""
    full = draw(SHAPES)
    keep = draw(st.integers(0, len(full)))
    other = list(full[len(full) - keep :])
    ones = draw(st.lists(st.booleans(), min_size=len(other), max_size=len(other)))
    first = list(full)
    for i, flag in enumerate(ones):
        if flag:
            if draw(st.booleans()):
                other[i] = 1
            else:
                first[len(full) - keep + i] = 1
    pair = (tuple(first), tuple(other))
    return pair[::-1] if draw(st.booleans()) else pair


def dtype_of(op) -> st.SearchStrategy[np.dtype]:
    return st.sampled_from([np.dtype(d) for d in op.row.dtypes])


def _sets(draw, values) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """VALUES_PER_DRAW input sets from `values()` (a closure over the drawn structure): (first, the rest)."""
    sets = [values() for _ in range(VALUES_PER_DRAW)]
    return sets[0], sets[1:]


@st.composite
def unary(draw, op) -> Example:
    dtype = draw(dtype_of(op))
    shape = draw(SHAPES)
    first, more = _sets(draw, lambda: (draw(array(dtype, shape, domain(op.name))),))
    attrs = {name: draw(st.floats(-10, 10, width=32)) for name in op.row.scalars}
    if op.name == "clip" and attrs["min"] > attrs["max"]:
        attrs["min"], attrs["max"] = attrs["max"], attrs["min"]
    return Example(first, attrs, more)


@st.composite
def float_unary(draw, op) -> Example:
    shape = draw(SHAPES)
    first, more = _sets(draw, lambda: (draw(array(F32, shape)),))
    return Example(first, {}, more)


@st.composite
def binary(draw, op) -> Example:
    dtypes = getattr(op.row, "dtypes", ("float32", "int32"))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shapes = draw(broadcast_pair())

    def values():
        a, b = (draw(array(dtype, s)) for s in shapes)
        if op.name in ("left_shift", "right_shift"):  # the documented domain: shift counts in [0, 31]
            b = np.abs(b) % 32
        return a, b

    first, more = _sets(draw, values)
    return Example(first, {}, more)


@st.composite
def logical_not(draw, op) -> Example:
    shape = draw(SHAPES)
    first, more = _sets(draw, lambda: (draw(array(np.bool_, shape)),))
    return Example(first, {}, more)


@st.composite
def reduce(draw, op) -> Example:
    dtypes = [np.dtype(d) for d in getattr(op, "dtypes", ("float32",))] or [F32]
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(NONEMPTY if op.name in ("max", "min", "argmax", "argmin") else SHAPES)
    first, more = _sets(draw, lambda: (draw(array(dtype, shape, domain(op.name))),))
    nd = len(shape)
    attrs: dict[str, Any] = {}
    if op.name in ("softmax", "log_softmax"):
        if nd:
            attrs["axis"] = draw(st.integers(-nd, nd - 1))
        return Example(first, attrs, more)
    axis_choices = [st.none()] if op.name in ("cumsum", "cumprod", "argmax", "argmin") or nd == 0 else []
    if nd:
        axis_choices.append(st.integers(-nd, nd - 1))
        if type(op).__name__ == "Reduce":
            axis_choices.append(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple))
    else:
        axis_choices = [st.none()]
    attrs["axis"] = draw(st.one_of(*axis_choices))
    if type(op).__name__ == "Reduce" or op.name in ("argmax", "argmin"):
        attrs["keepdims"] = draw(st.booleans())
    if op.name in ("argmax", "argmin"):
        attrs["select_last_index"] = draw(st.booleans())
    if op.name in ("cumsum", "cumprod"):
        attrs["exclusive"], attrs["reverse"] = draw(st.booleans()), draw(st.booleans())
    return Example(first, attrs, more)


def _size(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, list | tuple):
        return sum(_size(v) for v in value)
    return 1


@functools.cache
def _cases_of(name: str, small: bool = False) -> list[Case]:
    """The op's test cases; `small`: those whose inputs hypothesis can draw quickly (<= 4096 values)."""
    cases = [c for c in all_cases() if c.op == name]
    return [c for c in cases if _size(c.inputs) <= 4096] or cases[:1] if small else cases


def _redraw(value: Any, bounded: bool | str) -> st.SearchStrategy:
    """A float32 input redrawn with the same shape (specials included); anything else as it was."""
    if isinstance(value, np.ndarray) and value.dtype == F32:
        return array(F32, value.shape, bounded)
    if isinstance(value, list | tuple) and value and all(isinstance(v, np.ndarray) for v in value):
        return st.tuples(*(_redraw(v, bounded) for v in value)).map(type(value))
    return st.just(value)


@st.composite
def from_cases(draw, op) -> Example:
    """A test case of the op (its shapes, attributes and integer inputs), float values drawn afresh."""
    case = draw(st.sampled_from(_cases_of(op.name, small=True)))
    domains = INPUT_DOMAINS.get(op.name, ()) + (domain(op.name),) * len(case.inputs)
    derive = DERIVED.get(op.name, lambda inputs, attrs: inputs)

    def values():
        drawn = tuple(draw(_redraw(v, d)) for v, d in zip(case.inputs, domains, strict=False))
        return derive(drawn, case.attrs)

    first, more = _sets(draw, values)
    return Example(first, dict(case.attrs), more)


def strategy_for(op) -> st.SearchStrategy[Example]:
    """The family table: an op's class picks its strategy; others fuzz from their cases."""
    kind = type(op).__name__
    if kind == "Unary":
        return unary(op)
    if kind == "Erf":
        return float_unary(op)
    if kind == "Binary" or kind.startswith("Compare_"):
        return binary(op)
    if kind == "LogicalNot":
        return logical_not(op)
    if kind in ("Reduce", "ArgReduce", "Cumulative", "Softmax"):
        return reduce(op)
    return from_cases(op)


@functools.cache
def tolerance(op_name: str) -> tuple[float, float]:
    """The loosest (rtol, atol) the op's test cases state: the fuzz holds it to the same promise."""
    if op_name in LOOSER:
        return LOOSER[op_name]
    cases = _cases_of(op_name)
    return max((c.rtol for c in cases), default=1e-5), max((c.atol for c in cases), default=1e-6)


def ops():
    return list(all_ops())

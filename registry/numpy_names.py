"""The numpy frontend: numpy function names of the public API and the op each one runs.

The public name is usually the op name; numpy spellings (`subtract`, `negative`, `amax`) map here too.
Every name is also a ("numpy", name) entry of the registry, so coverage reports list it.
"""

from __future__ import annotations

from ..ops import Op, all_ops
from .table import REGISTRY

#: numpy spellings -> op name (where the op's own name differs)
ALIASES = {
    "negative": "neg",
    "absolute": "abs",
    "amax": "max",
    "amin": "min",
    "concat": "concatenate",
    "linear": "dense",
    "true_divide": "divide",
    "pow": "power",
    # numpy 2's array-API spellings and other numpy names of ops/unary_math.py and ops/binary_int.py
    "asin": "arcsin",
    "acos": "arccos",
    "atan": "arctan",
    "asinh": "arcsinh",
    "acosh": "arccosh",
    "atanh": "arctanh",
    "round": "rint",  # both round halves to even
    "remainder": "mod",
    "invert": "bitwise_not",
    "bitwise_invert": "bitwise_not",
    "bitwise_left_shift": "left_shift",
    "bitwise_right_shift": "right_shift",
}


def _names() -> dict[str, str]:
    names = {op.name: op.name for op in all_ops()}
    names.update({alias: target for alias, target in ALIASES.items() if target in names})
    return names


NUMPY_NAMES: dict[str, str] = _names()
for _name, _op in NUMPY_NAMES.items():
    REGISTRY.register("numpy", _name, doc=f"wasmops op {_op}")(lambda *args, _op=_op: _op)


def numpy_op(name: str) -> Op:
    """The op behind a numpy-API name; a miss lists every supported name."""
    try:
        return all_ops()[NUMPY_NAMES[name]]
    except KeyError:
        raise AttributeError(f"wasmops has no op {name!r}; supported: {', '.join(sorted(NUMPY_NAMES))}") from None

"""The numpy frontend: public function names of the numpy-style API and the op each one runs.

The public name is usually the op name; numpy spellings (`subtract`, `negative`, `amax`) map here too.
"""

from __future__ import annotations

from ..ops import Op, all_ops

#: extra numpy spellings -> op name
ALIASES = {"negative": "neg", "absolute": "abs", "amax": "max", "concat": "concatenate", "linear": "dense"}


def _names() -> dict[str, str]:
    names = {op.name: op.name for op in all_ops()}
    names.update({alias: target for alias, target in ALIASES.items() if target in names})
    return names


NUMPY_NAMES: dict[str, str] = _names()


def numpy_op(name: str) -> Op:
    """The op behind a numpy-API name; a miss lists every supported name."""
    try:
        return all_ops()[NUMPY_NAMES[name]]
    except KeyError:
        raise AttributeError(f"wasmops has no op {name!r}; supported: {', '.join(sorted(NUMPY_NAMES))}") from None

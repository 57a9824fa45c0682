"""GraphBuilder: frontends translate a model node by node into op calls; this records them as Program steps.

Values are numpy arrays (constants: initializers, folded subgraphs, shapes) or TensorRefs (tensors that
will live in wasm memory). An op whose inputs are all constants is folded at load with its numpy
reference, so shape arithmetic and weight-generating subgraphs cost nothing at run time. Reshape-like
ops alias: they return a TensorRef over the same buffer and emit no step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.plan import Step
from ..ops import PREV, Call, all_ops
from ..ops._multi import KeepCall
from ..ops.spec import PACK_CONSTANTS, TensorRef
from .dtypes import COMPUTE, narrow_constant

Value = np.ndarray | TensorRef


def is_const(value: Any) -> bool:
    return not isinstance(value, TensorRef)


def _has_ref(args: tuple) -> bool:
    return any(isinstance(a, TensorRef) or (isinstance(a, list | tuple) and _has_ref(tuple(a))) for a in args)


def _fold(op, args: tuple, attrs: dict) -> np.ndarray:
    """Evaluate an op on constants with its numpy reference; dtypes the op refuses (int64 shape arithmetic,
    float16) are computed in their compute dtype and the result given back in the inputs' own dtype."""
    try:
        return np.asarray(op.reference(*args, **attrs))
    except TypeError:
        arrays = [np.asarray(a) for a in args if isinstance(a, np.ndarray | np.generic)]
        out = np.asarray(op.reference(*(narrow_constant(a) for a in args), **attrs))
        for a in arrays:
            if a.dtype in COMPUTE and COMPUTE[a.dtype] == out.dtype:
                return out.astype(a.dtype)
        return out


class GraphBuilder:
    """Collects steps for one set of input shapes; `label` names the node being translated (for errors)."""

    def __init__(self, pack: bool = True) -> None:
        self.steps: list[Step] = []
        #: pack constant weights into the kernels' layouts (off when only shapes and folded values are wanted)
        self.pack = pack
        self.trips: dict[str, int] = {}  # iterations each Loop ran, by node label
        self.label = ""
        self.num_outputs = 1  # of the node being translated (ONNX Split needs it)
        #: translate a subgraph (If / Loop / Scan bodies) inline: (graph, {name: value}) -> output values;
        #: set by the session that owns the node loop
        self.subgraph = None
        self.scope = None  # the values visible to the node being translated (the session's)

    def op(self, name: str, *args: Any, **attrs: Any) -> Value | list[Value]:
        """Run op `name` on values: fold it now if every input is constant, else record its kernel calls.
        A multi-output op's chain (KeepCalls) gives a list: the kept outputs, then the last, as they come
        out of the kernels (stacked rows where the op stacks them; its `results` says how)."""
        op = all_ops()[name]
        if not _has_ref(args):
            return _fold(op, args, attrs)
        token = PACK_CONSTANTS.set(self.pack)  # weights are constants of the graph: pack them once, here
        try:
            plan = op.plan(*(narrow_constant(a) for a in args), **attrs)
        finally:
            PACK_CONSTANTS.reset(token)
        chain = [plan] if isinstance(plan, Call) else plan
        prev: TensorRef | None = None
        kept: list[TensorRef] = []  # a multi-output op's other results (ops/_multi.py)
        for call in chain:
            inputs = [prev if x is PREV else x for x in call.inputs]
            prev = TensorRef(call.out_shape, call.out_dtype)
            self.steps.append(Step(call.kernel, inputs, prev, call.scalars, call.blocked, self.label))
            if type(call) is KeepCall:
                kept.append(prev if call.result_shape is None else prev.reshape(call.result_shape))
        assert prev is not None
        final = chain[-1].result_shape
        out = prev if final is None else prev.reshape(final)
        return [*kept, out] if kept else out

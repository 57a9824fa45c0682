"""The ONNX frontend: BitCast (opset 26), the bits of each element read as another dtype of the same width.

float32 <-> int32 run the `bitcast` kernels. An int32-computed source to int32 is refused: it may be a uint32
tensor, whose values past 2^31 int32 cannot hold. Narrow integers live in int32 inside
wasm, so their reinterpretation is arithmetic on the value: to uintN add 2^N to negatives, to intN subtract
2^N from values >= 2^(N-1). Casts needing more than 32 bits, or float16 bits, are refused.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from .graph import GraphBuilder, is_const
from .onnx_ops import AttributeError_, F, onnx_op

_WIDTHS = {"int8": 8, "uint8": 8, "int16": 16, "uint16": 16}


@onnx_op(F, "BitCast", 26, ("to",))
def bitcast(g: GraphBuilder, a: dict, x):
    try:
        target = np.dtype(helper.tensor_dtype_to_np_dtype(int(a["to"])))
    except (KeyError, TypeError, ValueError):
        raise AttributeError_(f"{g.label}: BitCast to ONNX type {a.get('to')} is not supported") from None
    if is_const(x):
        return np.array(x, copy=True).view(target)
    source = np.dtype(x.dtype)
    if target.name in ("float32", "int32") and source.name in ("float32", "int32") and source != target:
        return g.op("bitcast", x, target.name)
    if source == np.bool_ and target.name in ("int8", "uint8"):
        return g.op("cast", x, dtype="int32")
    if source == np.int32 and target.name in _WIDTHS:
        span = 1 << _WIDTHS[target.name]
        if target.kind == "u":
            return g.op("where", g.op("less", x, np.int32(0)), g.op("add", x, np.int32(span)), x)
        return g.op("where", g.op("greater_equal", x, np.int32(span // 2)), g.op("subtract", x, np.int32(span)), x)
    if source == np.int32 and target == np.int32:
        raise AttributeError_(
            f"{g.label}: BitCast to int32 of an int32-computed tensor is not supported: the source may be uint32, "
            "whose values past 2^31 int32 cannot hold"
        )
    raise AttributeError_(
        f"{g.label}: BitCast of a {source.name}-computed tensor to {target.name} is not supported "
        "(float32 <-> int32 and 8 / 16-bit integers only)"
    )

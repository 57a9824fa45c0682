"""Constant padding (`np.pad(x, pad_width, constant_values=c)`) for float32 and int32 tensors of any rank.

The host collapses the shape first: leading unpadded axes become one batch axis and every padded axis
absorbs the unpadded axes after it (padding an axis by b is padding its flattened inner block by b * inner).
What is left is at most RANK axes for one 6-D kernel with the before-pads as int scalars (a rank > 6
tensor with nearly every axis padded does not fit and is refused).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .spec import FLOAT, INT, TENSOR, Call, Kernel, Op, prefix

RANK = 6
DTYPES = ("float32", "int32")


def collapse(shape: tuple[int, ...], pads: list[tuple[int, int]]) -> tuple[tuple[int, ...], list[int], tuple[int, ...]]:
    """(in_shape, before, out_shape) of the smallest equivalent padding problem, padded to RANK axes."""
    groups: list[list[int]] = []  # [length, before, after]
    for n, (b, a) in zip(shape, pads, strict=True):
        if (b or a) or not groups:
            groups.append([n, b, a])
        else:  # an unpadded axis joins the group on its left: its elements stay contiguous
            groups[-1][0] *= n
            groups[-1][1] *= n
            groups[-1][2] *= n
    groups = [[1, 0, 0]] * (RANK - len(groups)) + groups
    return tuple(g[0] for g in groups), [g[1] for g in groups], tuple(g[0] + g[1] + g[2] for g in groups)


def _group_count(pads: list[tuple[int, int]]) -> int:
    """Number of collapsed axes: one per padded axis, plus a batch axis if axis 0 is unpadded."""
    padded = sum(1 for b, a in pads if b or a)
    return padded + (0 if pads and (pads[0][0] or pads[0][1]) else 1)


def pad_pairs(op: Op, pad_width, ndim: int) -> list[tuple[int, int]]:
    """numpy's pad_width forms (an int, one (before, after) pair, or a pair per axis) as one pair per axis."""
    try:
        arr = np.asarray(pad_width)
    except ValueError:  # ragged nesting
        raise op.fail(f"pad_width {pad_width!r} is not an int, a pair or a sequence of pairs") from None
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{op.name}: pad_width must be of integral type, got {pad_width!r}")
    try:
        arr = np.broadcast_to(arr.astype(np.int64), (ndim, 2))
    except ValueError:
        raise op.fail(f"pad_width {pad_width!r} does not broadcast to ({ndim}, 2) for a rank-{ndim} tensor") from None
    if (arr < 0).any():
        raise op.fail(f"pad_width must not be negative, got {pad_width!r}")
    return [(int(b), int(a)) for b, a in arr]


class Pad(Op):
    """Constant padding, numpy pad_width semantics."""

    name = "pad"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel(
                f"{prefix(np.dtype(dt))}_pad",
                lambda dt=dt: self._build(dt),
                (TENSOR, TENSOR) + (INT,) * RANK + (FLOAT if dt == "float32" else INT,),
            )
            for dt in DTYPES
        ]

    @staticmethod
    def _build(dtype: str):
        # Written as explicit TIR loops, not a TE compute: a TE pad is one if_then_else per element, which
        # TVM cannot vectorise. Here each output row is fill / copy / fill; LLVM turns the copy into
        # memory.copy and vectorises the fills, so padding runs at memory speed.
        from tvm.script import tirx as T

        scalar = T.float32 if dtype == "float32" else T.int32

        @T.prim_func(private=True)
        def pad(
            x_h: T.handle,
            out_h: T.handle,
            b0: T.int32,
            b1: T.int32,
            b2: T.int32,
            b3: T.int32,
            b4: T.int32,
            b5: T.int32,
            value: scalar,
        ):
            T.func_attr({"tirx.noalias": True})
            n0, n1, n2, n3, n4, n5 = T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
            m0, m1, m2, m3, m4, m5 = T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
            x = T.match_buffer(x_h, (n0, n1, n2, n3, n4, n5), dtype)
            out = T.match_buffer(out_h, (m0, m1, m2, m3, m4, m5), dtype)
            for i0, i1, i2, i3, i4 in T.grid(m0, m1, m2, m3, m4):
                if (
                    b0 <= i0
                    and i0 < b0 + n0
                    and b1 <= i1
                    and i1 < b1 + n1
                    and b2 <= i2
                    and i2 < b2 + n2
                    and b3 <= i3
                    and i3 < b3 + n3
                    and b4 <= i4
                    and i4 < b4 + n4
                ):
                    for j in range(b5):
                        out[i0, i1, i2, i3, i4, j] = value
                    for j in range(n5):
                        out[i0, i1, i2, i3, i4, b5 + j] = x[i0 - b0, i1 - b1, i2 - b2, i3 - b3, i4 - b4, j]
                    for j in range(m5 - b5 - n5):
                        out[i0, i1, i2, i3, i4, b5 + n5 + j] = value
                else:
                    for j in range(m5):
                        out[i0, i1, i2, i3, i4, j] = value

        return pad

    def reference(self, x, pad_width, constant_value: float = 0.0) -> np.ndarray:
        x = np.asarray(x)
        return np.pad(x, pad_width, mode="constant", constant_values=constant_value)

    def plan(
        self, x: np.ndarray, pad_width: int | Sequence[int] | Sequence[Sequence[int]], constant_value: float = 0.0
    ) -> Call:
        """Pad x with a constant, as `np.pad(x, pad_width, mode="constant", constant_values=constant_value)`.

        x: float32 or int32, any rank. pad_width: an int (every side of every axis), (before, after) for
        every axis, or one (before, after) pair per axis; all >= 0. constant_value is cast to x's dtype.
        Returns an array of x's dtype with shape x.shape[i] + before[i] + after[i].
        """
        x = self.tensor(x, "x", DTYPES)
        pads = pad_pairs(self, pad_width, x.ndim)
        value = np.asarray(constant_value).astype(x.dtype).item()
        out_shape = tuple(n + b + a for n, (b, a) in zip(x.shape, pads, strict=True))
        if _group_count(pads) > RANK:
            raise self.fail(
                f"padding {sum(1 for p in pads if any(p))} axes of a rank-{x.ndim} tensor needs more than "
                f"{RANK} axes after collapsing unpadded ones; at most {RANK} are supported"
            )
        in_shape, before, out6 = collapse(x.shape if x.ndim else (1,), pads if x.ndim else [(0, 0)])
        return Call(f"{prefix(x.dtype)}_pad", [x.reshape(in_shape)], out6, x.dtype, (*before, value), out_shape)


OPS = [Pad()]

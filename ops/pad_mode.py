"""pad_mode: non-constant padding, `np.pad(x, pad_width, mode)` for mode reflect, symmetric, edge or wrap
(ONNX Pad modes reflect / edge / wrap; PyTorch ReflectionPad / ReplicationPad / CircularPad).

Every output element copies one input element: along each axis, output index i reads input index t[i],
where the host builds t by padding arange(n) with numpy itself (so any pad width, even wider than the
axis, follows numpy exactly). Runs of unpadded axes are merged, leaving at most RANK axes; the kernel
writes each innermost output row as before / copy / after, the copy being contiguous (memory.copy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .pad import pad_pairs
from .spec import INT, TENSOR, Call, Kernel, Op, prefix

RANK = 6
DTYPES = ("float32", "int32")
MODES = ("reflect", "symmetric", "edge", "wrap")


def _build(dtype: str):
    from tvm.script import tirx as T

    @T.prim_func(private=True)
    def pad_mode(
        x_h: T.handle,
        t0_h: T.handle,
        t1_h: T.handle,
        t2_h: T.handle,
        t3_h: T.handle,
        t4_h: T.handle,
        t5_h: T.handle,
        out_h: T.handle,
        b5: T.int32,
    ):
        T.func_attr({"tirx.noalias": True})
        n0, n1, n2, n3, n4, n5 = T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
        m0, m1, m2, m3, m4, m5 = T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
        x = T.match_buffer(x_h, (n0, n1, n2, n3, n4, n5), dtype)
        out = T.match_buffer(out_h, (m0, m1, m2, m3, m4, m5), dtype)
        t0 = T.match_buffer(t0_h, (m0,), "int32")
        t1 = T.match_buffer(t1_h, (m1,), "int32")
        t2 = T.match_buffer(t2_h, (m2,), "int32")
        t3 = T.match_buffer(t3_h, (m3,), "int32")
        t4 = T.match_buffer(t4_h, (m4,), "int32")
        t5 = T.match_buffer(t5_h, (m5,), "int32")
        for i0, i1, i2, i3, i4 in T.grid(m0, m1, m2, m3, m4):
            for j in range(b5):
                out[i0, i1, i2, i3, i4, j] = x[t0[i0], t1[i1], t2[i2], t3[i3], t4[i4], t5[j]]
            for j in range(n5):
                out[i0, i1, i2, i3, i4, b5 + j] = x[t0[i0], t1[i1], t2[i2], t3[i3], t4[i4], j]
            for j in range(m5 - b5 - n5):
                out[i0, i1, i2, i3, i4, b5 + n5 + j] = x[t0[i0], t1[i1], t2[i2], t3[i3], t4[i4], t5[b5 + n5 + j]]

    return pad_mode


class PadMode(Op):
    """np.pad with a non-constant mode."""

    name = "pad_mode"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel(f"{prefix(np.dtype(dt))}_pad_mode", lambda dt=dt: _build(dt), (TENSOR,) * 8 + (INT,))
            for dt in DTYPES
        ]

    def reference(self, x, pad_width, mode: str = "reflect") -> np.ndarray:
        return np.pad(np.asarray(x), pad_width, mode=mode)

    def plan(
        self, x: np.ndarray, pad_width: int | Sequence[int] | Sequence[Sequence[int]], mode: str = "reflect"
    ) -> Call:
        """Pad x as `np.pad(x, pad_width, mode=mode)` with mode "reflect" (mirror, edge not repeated),
        "symmetric" (mirror, edge repeated), "edge" (repeat the edge) or "wrap" (periodic).

        x: float32 or int32, rank 1 to 6 after merging runs of unpadded axes. pad_width: an int, (before,
        after) for every axis, or one pair per axis, all >= 0. A padded axis must not be empty.
        Returns an array of x's dtype with shape x.shape[i] + before[i] + after[i].
        """
        x = self.tensor(x, "x", DTYPES)
        if mode not in MODES:
            raise self.fail(f"mode must be one of {MODES} (use pad for constant padding), got {mode!r}")
        if x.ndim == 0:
            raise self.fail("x must have rank >= 1")
        pads = pad_pairs(self, pad_width, x.ndim)
        for axis, (n, (b, a)) in enumerate(zip(x.shape, pads, strict=True)):
            if n == 0 and (b or a):
                raise self.fail(f"cannot pad axis {axis}: it is empty")
        out_shape = tuple(n + b + a for n, (b, a) in zip(x.shape, pads, strict=True))
        groups: list[list[int]] = []  # [length, before, after]: runs of unpadded axes merge into one
        for n, (b, a) in zip(x.shape, pads, strict=True):
            if b or a or not groups or groups[-1][1] or groups[-1][2]:
                groups.append([n, b, a])
            else:
                groups[-1][0] *= n
        if len(groups) > RANK:
            raise self.fail(
                f"padding {sum(1 for p in pads if any(p))} axes of a rank-{x.ndim} tensor leaves {len(groups)} "
                f"axes after merging unpadded ones; at most {RANK} are supported"
            )
        groups = [[1, 0, 0]] * (RANK - len(groups)) + groups
        # the source index of every output index, per axis: numpy pads the indices exactly as the data
        tables = [np.pad(np.arange(n, dtype=np.int32), (b, a), mode=mode) for n, b, a in groups]
        return Call(
            f"{prefix(x.dtype)}_pad_mode",
            [x.reshape(tuple(g[0] for g in groups)), *tables],
            tuple(g[0] + g[1] + g[2] for g in groups),
            x.dtype,
            (groups[-1][1],),
            out_shape,
        )


OPS = [PadMode()]

"""2-D pooling on NCHW float32: max_pool2d, avg_pool2d (PyTorch / ONNX semantics) and global_avg_pool2d.

A pool is a chain of at most two kernels on the (N*C, H, W) planes:
1. `<op>_pad` (only when needed) pads each plane with the fill (-inf for max, 0 for average) on every
   side, including the ceil_mode overhang, so the pooling kernel never bounds-checks;
2. the pooling kernel reduces separably, one output row at a time: the window's input rows into
   one row (contiguous, vectorised), then that row over the kernel width at the output stride.
Average pooling divides by per-row and per-column factors the host computes (PyTorch's divisor is a
product of a height part and a width part in both count_include_pad modes). Pool geometry (strides,
dilations, kernel size) is int scalars, so one kernel serves every shape and attribute.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import FLOAT, INT, PREV, TENSOR, Call, Kernel, Op


def out_size(length: int, k: int, s: int, d: int, before: int, after: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape_pad_lr: with ceil_mode the last window must start in the input
    or the leading padding, never in the trailing padding."""
    span = length + before + after - d * (k - 1) - 1
    n = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= length + before:
        n -= 1
    return n


def _windows(x: np.ndarray, k, s, d, out_hw) -> np.ndarray:
    """Reference helper: the (N, C, OH, OW, kh*kw) window elements of an already padded array."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = k, s, d, out_hw
    taps = [
        x[:, :, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    return np.stack(taps, axis=-1)


def _build_plane_pad():
    """(planes, H, W) -> (planes, Hp, Wp) with `top` rows and `left` columns of fill before the input.

    Explicit TIR loops, as ops/pad.py: each row is fill / copy / fill, so the copy becomes memory.copy.
    """
    from tvm.script import tirx as T

    @T.prim_func(private=True)
    def plane_pad(x_h: T.handle, out_h: T.handle, top: T.int32, left: T.int32, fill: T.float32):
        T.func_attr({"tirx.noalias": True})
        p, h, w, hp, wp = T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
        x = T.match_buffer(x_h, (p, h, w), "float32")
        out = T.match_buffer(out_h, (p, hp, wp), "float32")
        for n, i in T.grid(p, hp):
            if top <= i and i < top + h:
                for j in range(left):
                    out[n, i, j] = fill
                for j in range(w):
                    out[n, i, left + j] = x[n, i - top, j]
                for j in range(wp - left - w):
                    out[n, i, left + w + j] = fill
            else:
                for j in range(wp):
                    out[n, i, j] = fill

    return plane_pad


class _Pool2d(Op):
    """Shared attribute handling and kernels of max_pool2d and avg_pool2d."""

    kind: str  # "max" or "avg"

    # ---- kernels ------------------------------------------------------------------------------------
    def kernels(self) -> list[Kernel]:
        n_scalars = 6 if self.kind == "max" else 4
        n_tensors = 2 if self.kind == "max" else 4
        params = (TENSOR,) * n_tensors + (INT,) * n_scalars
        return [
            Kernel(f"f32_{self.name}", self._build, params),
            Kernel(f"f32_{self.name}_sw1", lambda: self._build(unit_stride=True), params),
            Kernel(f"f32_{self.name}_pad", _build_plane_pad, (TENSOR, TENSOR, INT, INT, FLOAT)),
        ]

    def _build(self, unit_stride: bool = False):
        """The pooling kernel; unit_stride fixes the width stride at 1 (the sw scalar is then unused), so
        the width reduction reads contiguously: with a runtime stride LLVM can only gather lane by lane."""
        import tvm
        from tvm import te

        from .simd_schedules import dims, prim_func

        p, hp, wp, oh, ow = dims("planes", "hp", "wp", "oh", "ow")
        names = ("sh", "sw", "dh", "dw", "kh", "kw") if self.kind == "max" else ("sh", "sw", "kh", "kw")
        scalars = {n: te.var(n, "int32") for n in names}
        # max(s, 1) is s for every valid call; it tells TVM the strides are positive, so compute_at
        # bounds the columns a row needs without sign Selects and per-element predicates
        sh, sw = te.max(scalars["sh"], 1), 1 if unit_stride else te.max(scalars["sw"], 1)
        kh, kw = scalars["kh"], scalars["kw"]
        dh, dw = (te.max(scalars[n], 1) if n in scalars else 1 for n in ("dh", "dw"))
        x = te.placeholder((p, hp, wp), "float32", name="x")
        if self.kind == "max":
            # llvm.maximum is wasm's f32.max / f32x4.max: branch-free and NaN-propagating like PyTorch
            # (te.max becomes compare + select, which wasmtime turns into mispredicted branches); the
            # identity is -inf, not te.max's lowest finite float, so all-padding windows give -inf.
            ninf = tvm.tirx.const(float("-inf"), "float32")
            fmax = lambda a, b: tvm.tirx.call_llvm_pure_intrin("float32", "llvm.maximum", a, b)  # noqa: E731
            reduce = te.comm_reducer(fmax, lambda t: ninf, name="max_ninf")
        else:
            reduce = te.sum
        rw = te.reduce_axis((0, kw), "rw")
        rh = te.reduce_axis((0, kh), "rh")
        # height first: the window's rows reduce with contiguous, vectorisable loads along the width
        width = (ow - 1) * sw + (kw - 1) * dw + 1  # the input columns a row of windows spans (<= wp)
        cols = te.compute((p, oh, width), lambda n, i, c: reduce(x[n, i * sh + rh * dh, c], axis=rh), name="cols")

        # then the width at the output stride: contiguous (v128 loads) in the unit-stride variant
        pool = te.compute((p, oh, ow), lambda n, i, j: reduce(cols[n, i, j * sw + rw * dw], axis=rw), name="pool")
        if self.kind == "max":
            args, out = [x, pool], pool
        else:
            fh = te.placeholder((oh,), "float32", name="div_h")
            fw = te.placeholder((ow,), "float32", name="div_w")
            out = te.compute((p, oh, ow), lambda n, i, j: pool[n, i, j] / (fh[i] * fw[j]), name="out")
            args = [x, fh, fw, out]
        sch = tvm.s_tir.Schedule(prim_func(args + [scalars[n] for n in names]))

        def taps_outside(name: str) -> None:
            # (row, col, tap) -> (row, tap, col) with the init hoisted: the innermost loop is a plain
            # loop along the width that LLVM vectorises (TVM's vectorize would scalarise the tail)
            blk = sch.get_sblock(name)
            *_, col, tap = sch.get_loops(blk)
            sch.reorder(tap, col)
            sch.decompose_reduction(blk, tap)

        if self.kind == "avg":
            row = sch.get_loops(sch.get_sblock("out"))[1]
            sch.compute_at(sch.get_sblock("pool"), row)
        else:
            row = sch.get_loops(sch.get_sblock("pool"))[1]
        sch.compute_at(sch.get_sblock("cols"), row)  # one row of cols per output row, while it is in cache
        taps_outside("cols")
        taps_outside("pool")
        return sch.mod["main"]

    # ---- attributes ---------------------------------------------------------------------------------
    def _geometry(self, x, kernel_size, stride, padding, dilation, ceil_mode):
        """Validate the attributes; return ((kh, kw), (sh, sw), (dh, dw), (top, left, bottom, right), (oh, ow))."""
        if not isinstance(kernel_size, int | np.integer | tuple | list):
            raise self.fail(f"kernel_size must be an int or a pair of ints, got {kernel_size!r}")
        k = self.ints(kernel_size, 2, "kernel_size", minimum=1)
        if stride is None or (isinstance(stride, tuple | list) and len(stride) == 0):
            s = k  # PyTorch: stride defaults to kernel_size
        else:
            s = self.ints(stride, 2, "stride", minimum=1)
        d = self.ints(dilation, 2, "dilation", minimum=1)
        if isinstance(padding, tuple | list) and len(padding) == 4:
            pads = self.ints(padding, 4, "padding", minimum=0)  # ONNX order: top, left, bottom, right
        else:
            ph, pw = self.ints(padding, 2, "padding (an int, (pad_h, pad_w) or (top, left, bottom, right))", minimum=0)
            pads = (ph, pw, ph, pw)
        h, w = x.shape[-2:]
        if h == 0 or w == 0:
            raise self.fail(f"x must have non-empty spatial dimensions, got shape {x.shape}")
        out = tuple(
            out_size(n, kk, ss, dd, b, a, bool(ceil_mode))
            for n, kk, ss, dd, b, a in zip((h, w), k, s, d, pads[:2], pads[2:], strict=True)
        )
        for axis, (n, kk, ss, dd, before, o) in enumerate(zip((h, w), k, s, d, pads[:2], out, strict=True)):
            # ONNX allows padding beyond half the kernel, but a window made only of padding has no value
            taps = np.arange(max(o, 0))[:, None] * ss - before + np.arange(kk)[None, :] * dd
            beyond_half = max(before, pads[axis + 2]) > kk // 2  # PyTorch's limit: kept as it was below it
            if beyond_half and o > 0 and not ((taps >= 0) & (taps < n)).any(axis=1).all():
                raise self.fail(
                    f"padding {pads[axis], pads[axis + 2]} along {'HW'[axis]} leaves windows of kernel size {kk} "
                    "made only of padding"
                )
        if min(out) < 1:
            eff = tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d, strict=True))
            raise self.fail(
                f"the (dilated) kernel {eff} is larger than the padded input "
                f"{(h + pads[0] + pads[2], w + pads[1] + pads[3])}"
            )
        return k, s, d, pads, out

    def _chain(self, x, k, s, d, pads, out_hw, fill: float, extra: list[np.ndarray], scalars) -> list[Call] | Call:
        """The optional pad call, then the pooling call on its output (PREV) or on x's planes."""
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        planes = int(np.prod(lead, dtype=np.int64))
        need = [(o - 1) * ss + dd * (kk - 1) + 1 for o, kk, ss, dd in zip(out_hw, k, s, d, strict=True)]
        after = [max(need[0] - h - pads[0], 0), max(need[1] - w - pads[1], 0)]
        out_shape = (planes, *out_hw)
        result = (*lead, *out_hw)
        kernel = f"f32_{self.name}_sw1" if s[1] == 1 else f"f32_{self.name}"
        if pads[0] == pads[1] == after[0] == after[1] == 0:
            return Call(kernel, [x.reshape(planes, h, w), *extra], out_shape, x.dtype, scalars, result)
        padded = (planes, h + pads[0] + after[0], w + pads[1] + after[1])
        pad_call = Call(
            f"f32_{self.name}_pad", [x.reshape(planes, h, w)], padded, x.dtype, (pads[0], pads[1], float(fill))
        )
        return [pad_call, Call(kernel, [PREV, *extra], out_shape, x.dtype, scalars, result)]

    def _input(self, x) -> np.ndarray:
        return self.tensor(x, "x", ndim=(3, 4))


class MaxPool2d(_Pool2d):
    """Max pooling over NCHW planes."""

    name = "max_pool2d"
    kind = "max"

    def reference(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> np.ndarray:
        x = np.asarray(x)
        x4 = x.reshape(-1, 1, *x.shape[-2:])
        k, s, d, pads, out = self._geometry(x4, kernel_size, stride, padding, dilation, ceil_mode)
        need = [(o - 1) * ss + dd * (kk - 1) + 1 for o, kk, ss, dd in zip(out, k, s, d, strict=True)]
        full = np.full(
            (*x4.shape[:2], max(need[0], x4.shape[2] + pads[0]), max(need[1], x4.shape[3] + pads[1])), -np.inf, x.dtype
        )
        full[:, :, pads[0] : pads[0] + x4.shape[2], pads[1] : pads[1] + x4.shape[3]] = x4
        y = _windows(full, k, s, d, out).max(axis=-1)
        return y.reshape(*x.shape[:-2], *out).astype(x.dtype)

    def plan(
        self,
        x: np.ndarray,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] | tuple[int, int, int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
    ) -> Call | list[Call]:
        """2-D max pooling, as torch.nn.functional.max_pool2d / ONNX MaxPool.

        x: float32 (N, C, H, W) (or unbatched (C, H, W)). kernel_size, stride (default kernel_size),
        dilation: int or (h, w). padding: int, (pad_h, pad_w) on both sides, or (top, left, bottom, right)
        as ONNX pads; no window made only of padding; padded elements are -inf. ceil_mode rounds
        the output size up, keeping only windows that start inside the input or the leading padding.
        Returns float32 (N, C, out_h, out_w), out = (in + pads - dilation * (k - 1) - 1) / stride + 1.
        """
        x = self._input(x)
        k, s, d, pads, out = self._geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
        return self._chain(x, k, s, d, pads, out, -math.inf, [], (s[0], s[1], d[0], d[1], k[0], k[1]))


class AvgPool2d(_Pool2d):
    """Average pooling over NCHW planes."""

    name = "avg_pool2d"
    kind = "avg"

    @staticmethod
    def _divisors(n, k, s, before, after, out, include_pad) -> np.ndarray:
        """PyTorch's per-axis divisor: the window clipped to the padded input, or to the input alone."""
        start = np.arange(out) * s - before
        end = np.minimum(start + k, n + after)
        if not include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        return (end - start).astype(np.float32)

    def reference(self, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        x = np.asarray(x)
        x4 = x.reshape(-1, 1, *x.shape[-2:]).astype(np.float64)
        k, s, d, pads, out = self._geometry(x4, kernel_size, stride, padding, 1, ceil_mode)
        h, w = x4.shape[2:]
        need = [(o - 1) * ss + kk for o, kk, ss in zip(out, k, s, strict=True)]
        big = (max(need[0], h + pads[0] + pads[2]), max(need[1], w + pads[1] + pads[3]))
        full = np.zeros((*x4.shape[:2], *big))
        full[:, :, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = x4
        # the divisor counts window elements over a mask: the padded input (PyTorch's count_include_pad)
        # or the input alone; the ceil_mode overhang beyond the padding never counts
        mask = np.zeros((1, 1, *big))
        if count_include_pad:
            mask[:, :, : h + pads[0] + pads[2], : w + pads[1] + pads[3]] = 1
        else:
            mask[:, :, pads[0] : pads[0] + h, pads[1] : pads[1] + w] = 1
        total = _windows(full, k, s, d, out).sum(axis=-1)
        count = _windows(mask, k, s, d, out).sum(axis=-1)
        return (total / count).reshape(*x.shape[:-2], *out).astype(x.dtype)

    def plan(
        self,
        x: np.ndarray,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] | tuple[int, int, int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> Call | list[Call]:
        """2-D average pooling, as torch.nn.functional.avg_pool2d / ONNX AveragePool.

        x: float32 (N, C, H, W) (or unbatched (C, H, W)). kernel_size, stride (default kernel_size): int
        or (h, w). padding: int, (pad_h, pad_w) on both sides, or (top, left, bottom, right) as ONNX pads;
        no window made only of padding; padded elements are 0. ceil_mode: as max_pool2d.
        count_include_pad=True divides by the window size clipped to the padded input (PyTorch), False by
        the number of input elements in the window. Returns float32 (N, C, out_h, out_w).
        """
        x = self._input(x)
        k, s, d, pads, out = self._geometry(x, kernel_size, stride, padding, 1, ceil_mode)
        h, w = x.shape[-2:]
        include = bool(count_include_pad)
        div = [
            self._divisors(n, kk, ss, b, a, o, include)
            for n, kk, ss, b, a, o in zip((h, w), k, s, pads[:2], pads[2:], out, strict=True)
        ]
        return self._chain(x, k, s, d, pads, out, 0.0, div, (s[0], s[1], k[0], k[1]))


class GlobalAvgPool2d(Op):
    """Mean over each (H, W) plane."""

    name = "global_avg_pool2d"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_global_avg_pool2d", self._build, (TENSOR, TENSOR))]

    @staticmethod
    def _build():
        import tvm
        from tvm import te

        from ._rowstats import row_sum, schedule_row_sum
        from .simd_schedules import dims, prim_func

        rows, k = dims("rows", "k")
        x = te.placeholder((rows, k), "float32", name="x")
        total = row_sum(lambda r, j: x[r, j], rows, k, "sum")
        out = te.compute((rows,), lambda r: total[r] / k.astype("float32"), name="out")
        sch = tvm.s_tir.Schedule(prim_func([x, out]))
        schedule_row_sum(sch, "sum", sch.get_loops(sch.get_sblock("out"))[0])
        return sch.mod["main"]

    def reference(self, x) -> np.ndarray:
        x = np.asarray(x)
        return x.astype(np.float64).mean(axis=(-2, -1), keepdims=True).astype(x.dtype)

    def plan(self, x: np.ndarray) -> Call:
        """Global average pooling (ONNX GlobalAveragePool, adaptive_avg_pool2d(x, 1)).

        x: float32 (N, C, H, W) with H, W >= 1. Returns float32 (N, C, 1, 1), the mean of each plane.
        """
        x = self.tensor(x, "x", ndim=4)
        n, c, h, w = x.shape
        if h == 0 or w == 0:
            raise self.fail(f"x must have non-empty spatial dimensions, got shape {x.shape}")
        return Call("f32_global_avg_pool2d", [x.reshape(n * c, h * w)], (n * c,), x.dtype, (), (n, c, 1, 1))


OPS = [MaxPool2d(), AvgPool2d(), GlobalAvgPool2d()]

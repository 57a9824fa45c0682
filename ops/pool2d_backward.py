"""Pooling gradients: max_pool2d_backward (recomputes the argmax) and avg_pool2d_backward, NCHW float32.

Attributes and output sizes are the forwards' (ops/pool2d.py: kernel, strides, pads, dilations, ceil_mode,
count_include_pad), validated by the same code. Both kernels gather: each input pixel sums the dy of the
windows that cover it, listed per row and per column in small host-made tables (window_table), so there
is no scatter, no write conflict and no division in the loop, and the plane loop runs on the thread pool.

* max: a first stage recomputes each window's argmax (the first maximum in row-major order, a NaN before
  any number, as PyTorch and MindSpore; padding never wins), then a pixel takes dy from the windows whose argmax it is.
* avg: a pixel takes dy / divisor from every covering window, with the forward's per-axis divisors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .pool2d import AvgPool2d, _Pool2d, _windows
from .spec import INT, TENSOR, Call, Kernel


def window_table(n: int, k: int, s: int, d: int, before: int, out: int) -> np.ndarray:
    """(n, T) int32: for each input index along one axis, the windows that read it (ascending), -1 past
    the last. T is the most windows any index meets (about k / s): the kernels loop over T x T candidate
    windows per pixel with no division or modulo in the loop."""
    taps = np.arange(n)[:, None] + before - np.arange(out)[None, :] * s  # (n, out): tap offset * d
    hit = (taps >= 0) & (taps % d == 0) & (taps // d < k)
    width = max(1, int(hit.sum(axis=1).max(initial=0)))
    table = np.full((n, width), -1, np.int32)
    for i, windows in enumerate(hit):
        found = np.flatnonzero(windows)
        table[i, : found.size] = found
    return table


def _gather(te, tvm, rt, ct, n, i, j, a, b, value):
    """sum over candidate windows (rt[i, a], ct[j, b]) that exist of value(oy, ox)."""
    oy, ox = rt[i, a], ct[j, b]
    ok = tvm.tirx.all(oy >= 0, ox >= 0)
    cy, cx = te.max(oy, 0), te.max(ox, 0)
    return te.sum(tvm.tirx.Select(ok, value(cy, cx), tvm.tirx.const(0.0, "float32")), axis=[a, b])


def _parallel_planes(sch, *blocks: str) -> None:
    for name in blocks:
        sch.parallel(sch.get_loops(sch.get_sblock(name))[0])


def _build_max():
    import tvm
    from tvm import te

    from .simd_schedules import dims, prim_func

    p, h, w, oh, ow = dims("planes", "h", "w", "oh", "ow")
    sh, sw, pt, pl, dh, dw, kh, kw = (te.var(n, "int32") for n in ("sh", "sw", "pt", "pl", "dh", "dw", "kh", "kw"))
    x = te.placeholder((p, h, w), "float32", name="x")
    dy = te.placeholder((p, oh, ow), "float32", name="dy")
    ninf = tvm.tirx.const(float("-inf"), "float32")
    # the window span, padded with -inf once (no bounds checks or clamps per tap below)
    hp, wp = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    xp = te.compute(
        (p, hp, wp),
        lambda n, i, j: te.if_then_else(
            tvm.tirx.all(i >= pt, i < h + pt, j >= pl, j < w + pl), x[n, i - pt, j - pl], ninf
        ),
        name="xp",
    )
    # NaN-propagating like the forward's max (llvm.maximum): te.max's compare-select dropped a NaN or not
    # depending on its place in the window, so the window's gradient went to a number or nowhere
    fmax = lambda a, b: tvm.tirx.call_llvm_pure_intrin("float32", "llvm.maximum", a, b)  # noqa: E731
    nan_max = te.comm_reducer(fmax, lambda t: ninf, name="max_ninf")
    rh, rw = te.reduce_axis((0, kh), "rh"), te.reduce_axis((0, kw), "rw")
    mx = te.compute(
        (p, oh, ow), lambda n, i, j: nan_max(xp[n, i * sh + rh * dh, j * sw + rw * dw], axis=[rh, rw]), name="mx"
    )
    # the first maximum (row-major) that lies in x, as a position in the padded plane; padding never wins;
    # a window holding NaN has a NaN maximum, and its first NaN takes the gradient (as PyTorch)
    rh2, rw2 = te.reduce_axis((0, kh), "rh2"), te.reduce_axis((0, kw), "rw2")
    big = tvm.tirx.const(2**31 - 1, "int32")

    def first(n, i, j):
        yy, xx = i * sh + rh2 * dh, j * sw + rw2 * dw
        v = xp[n, yy, xx]
        top = tvm.tirx.Or(v == mx[n, i, j], tvm.tirx.isnan(v))
        hit = tvm.tirx.all(top, yy >= pt, yy < h + pt, xx >= pl, xx < w + pl)
        return te.min(tvm.tirx.Select(hit, yy * wp + xx, big), axis=[rh2, rw2])

    am_idx = te.compute((p, oh, ow), first, name="am")
    th, tw = dims("th", "tw")
    rt = te.placeholder((h, th), "int32", name="row_windows")
    ct = te.placeholder((w, tw), "int32", name="col_windows")
    a, b = te.reduce_axis((0, th), "a"), te.reduce_axis((0, tw), "b")
    zero = tvm.tirx.const(0.0, "float32")

    def grad(n, i, j):
        return _gather(
            te, tvm, rt, ct, n, i, j, a, b,
            lambda oy, ox: tvm.tirx.Select(am_idx[n, oy, ox] == (i + pt) * wp + j + pl, dy[n, oy, ox], zero),
        )  # fmt: skip

    dx = te.compute((p, h, w), grad, name="dx")
    sch = tvm.s_tir.Schedule(prim_func([x, dy, rt, ct, dx, sh, sw, pt, pl, dh, dw, kh, kw]))
    _parallel_planes(sch, "xp", "mx", "am", "dx")
    for name in ("mx", "am"):  # taps outside the output row: a plain loop along it that LLVM vectorises
        blk = sch.get_sblock(name)
        n_, i_, j_, r_, s_ = sch.get_loops(blk)
        sch.reorder(r_, s_, j_)
        sch.decompose_reduction(blk, r_)
    return sch.mod["main"]


def _build_avg():
    import tvm
    from tvm import te

    from .simd_schedules import dims, prim_func

    p, h, w, oh, ow, th, tw = dims("planes", "h", "w", "oh", "ow", "th", "tw")
    dy = te.placeholder((p, oh, ow), "float32", name="dy")
    fh = te.placeholder((oh,), "float32", name="div_h")
    fw = te.placeholder((ow,), "float32", name="div_w")
    rt = te.placeholder((h, th), "int32", name="row_windows")
    ct = te.placeholder((w, tw), "int32", name="col_windows")
    a, b = te.reduce_axis((0, th), "a"), te.reduce_axis((0, tw), "b")

    share = te.compute((p, oh, ow), lambda n, i, j: dy[n, i, j] / (fh[i] * fw[j]), name="share")

    def grad(n, i, j):
        return _gather(te, tvm, rt, ct, n, i, j, a, b, lambda oy, ox: share[n, oy, ox])

    dx = te.compute((p, h, w), grad, name="dx")
    sch = tvm.s_tir.Schedule(prim_func([dy, fh, fw, rt, ct, dx]))
    _parallel_planes(sch, "share", "dx")
    return sch.mod["main"]


def _check_dy(op: _Pool2d, dy, lead: tuple[int, ...], out_hw: tuple[int, int]) -> np.ndarray:
    dy = op.tensor(dy, "dy", ndim=len(lead) + 2)
    if dy.shape != (*lead, *out_hw):
        raise op.fail(f"dy has shape {dy.shape}; the forward's output is {(*lead, *out_hw)}")
    return dy


class MaxPool2dBackward(_Pool2d):
    name = "max_pool2d_backward"
    kind = "max"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_max_pool2d_backward", _build_max, (TENSOR,) * 5 + (INT,) * 8)]

    def reference(self, x, dy, kernel, strides=None, pads=0, dilations=1, ceil_mode=False) -> np.ndarray:
        x = np.asarray(x, np.float64)
        x4 = x.reshape(-1, 1, *x.shape[-2:])
        k, s, d, p, out = self._geometry(x4, kernel, strides, pads, dilations, ceil_mode)
        h, w = x4.shape[2:]
        need = [(o - 1) * ss + dd * (kk - 1) + 1 for o, kk, ss, dd in zip(out, k, s, d, strict=True)]
        full = np.full((x4.shape[0], 1, max(need[0], h + p[0]), max(need[1], w + p[1])), -np.inf)
        full[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = x4
        inside = np.zeros(full.shape, bool)
        inside[:, :, p[0] : p[0] + h, p[1] : p[1] + w] = True
        taps, valid = _windows(full, k, s, d, out), _windows(inside, k, s, d, out)
        # the first maximum of each window among x's pixels (padding never wins, also against -inf), or
        # its first NaN (as PyTorch)
        top = np.where(valid, taps, -np.inf).max(axis=-1, keepdims=True)
        hit = valid & ((taps == top) | np.isnan(taps))
        first = np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)
        dyf = np.asarray(dy, np.float64).reshape(-1, *out)
        dx = np.zeros(full.shape[:1] + full.shape[2:])
        for plane, i, j in np.ndindex(dyf.shape):
            t = first[plane, 0, i, j]
            if t < 0:
                continue
            dx[plane, i * s[0] + t // k[1] * d[0], j * s[1] + t % k[1] * d[1]] += dyf[plane, i, j]
        return dx[:, p[0] : p[0] + h, p[1] : p[1] + w].reshape(x.shape).astype(np.float32)

    def plan(
        self,
        x: np.ndarray,
        dy: np.ndarray,
        kernel: int | tuple[int, int],
        strides: int | tuple[int, int] | None = None,
        pads: int | tuple[int, ...] = 0,
        dilations: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
    ) -> Call:
        """dx of max_pool2d(x, kernel, strides, pads, dilations, ceil_mode): each window's dy goes to its
        first maximum. x: float32 (N, C, H, W) or (C, H, W), the forward's input; dy: the gradient of its
        output. Attributes as max_pool2d. Returns dx, x's shape."""
        x = self._input(x)
        k, s, d, pads_, out = self._geometry(x, kernel, strides, pads, dilations, ceil_mode)
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        dy = _check_dy(self, dy, lead, out)
        planes = int(np.prod(lead, dtype=np.int64))
        scalars = (s[0], s[1], pads_[0], pads_[1], d[0], d[1], k[0], k[1])
        view = (planes, h, w)
        tables = [
            window_table(n, kk, ss, dd, b, o)
            for n, kk, ss, dd, b, o in zip((h, w), k, s, d, pads_[:2], out, strict=True)
        ]
        inputs = [x.reshape(view), dy.reshape(planes, *out), *tables]
        return Call("f32_max_pool2d_backward", inputs, view, np.float32, scalars, x.shape)


class AvgPool2dBackward(_Pool2d):
    name = "avg_pool2d_backward"
    kind = "avg"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_avg_pool2d_backward", _build_avg, (TENSOR,) * 6)]

    def _attrs(self, input_shape, kernel, strides, pads, ceil_mode):
        shape = tuple(int(v) for v in input_shape)
        if len(shape) not in (3, 4) or min(shape) < 0:
            raise self.fail(f"input_shape must be (N, C, H, W) or (C, H, W), got {input_shape!r}")
        k, s, d, p, out = self._geometry(np.empty(shape, np.float32), kernel, strides, pads, 1, ceil_mode)
        return shape, k, s, p, out

    def reference(
        self, dy, input_shape, kernel, strides=None, pads=0, count_include_pad=True, ceil_mode=False
    ) -> np.ndarray:
        shape, k, s, p, out = self._attrs(input_shape, kernel, strides, pads, ceil_mode)
        h, w = shape[-2:]
        div = [
            AvgPool2d._divisors(n, kk, ss, b, a, o, bool(count_include_pad))
            for n, kk, ss, b, a, o in zip((h, w), k, s, p[:2], p[2:], out, strict=True)
        ]
        share = np.asarray(dy, np.float64).reshape(-1, *out) / np.multiply.outer(div[0], div[1])
        big = (max((out[0] - 1) * s[0] + k[0], h + p[0]), max((out[1] - 1) * s[1] + k[1], w + p[1]))
        dx = np.zeros((share.shape[0], *big))
        for r in range(k[0]):
            for c in range(k[1]):
                dx[:, r : r + (out[0] - 1) * s[0] + 1 : s[0], c : c + (out[1] - 1) * s[1] + 1 : s[1]] += share
        return dx[:, p[0] : p[0] + h, p[1] : p[1] + w].reshape(shape).astype(np.float32)

    def plan(
        self,
        dy: np.ndarray,
        input_shape: Sequence[int],
        kernel: int | tuple[int, int],
        strides: int | tuple[int, int] | None = None,
        pads: int | tuple[int, ...] = 0,
        count_include_pad: bool = True,
        ceil_mode: bool = False,
    ) -> Call:
        """dx of avg_pool2d(x, kernel, strides, pads, ceil_mode, count_include_pad): each window's dy,
        divided by the forward's divisor, goes to every input element of the window. dy: float32, the
        gradient of the forward's output; input_shape: x's shape. Returns dx of input_shape."""
        shape, k, s, p, out = self._attrs(input_shape, kernel, strides, pads, ceil_mode)
        lead, (h, w) = shape[:-2], shape[-2:]
        dy = _check_dy(self, dy, lead, out)
        div = [
            AvgPool2d._divisors(n, kk, ss, b, a, o, bool(count_include_pad))
            for n, kk, ss, b, a, o in zip((h, w), k, s, p[:2], p[2:], out, strict=True)
        ]
        planes = int(np.prod(lead, dtype=np.int64))
        tables = [window_table(n, kk, ss, 1, b, o) for n, kk, ss, b, o in zip((h, w), k, s, p[:2], out, strict=True)]
        return Call(
            "f32_avg_pool2d_backward", [dy.reshape(planes, *out), *div, *tables], (planes, h, w), np.float32, (), shape
        )


OPS = [MaxPool2dBackward(), AvgPool2dBackward()]

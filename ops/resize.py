"""resize2d: resize the two spatial axes of an NCHW tensor (ONNX Resize / Upsample, torch interpolate).

Every mode is one separable interpolation: out[p, i, j] = sum_b wx[j, b] * sum_a wy[i, a] * x[p, iy[i, a], ix[j, b]]
with K taps per axis (nearest 1, linear 2, cubic 4). The host computes the per-axis source indices and
weights (tiny (out, K) tables, float32 coordinate arithmetic as onnxruntime does it), so one kernel
serves every mode, coordinate transformation and rounding rule. The kernel blends the K input rows of
an output row into one row (contiguous, vectorised), then gathers along the width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .spec import TENSOR, Call, Kernel, Op

MODES = {"nearest": 1, "linear": 2, "cubic": 4}
COORDINATE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
F32 = np.float32


def source_coords(n_out: int, n_in: int, scale: np.float32, mode: str, roi: tuple[float, float] = (0, 1)) -> np.ndarray:
    """Each output index's coordinate in the input (float32, unclamped), ONNX Resize's
    coordinate_transformation_mode, computed in float32 with onnxruntime's operation order."""
    x = np.arange(n_out, dtype=F32)
    if mode == "tf_crop_and_resize":  # roi = (start, end) as fractions of the input extent
        start, end, span = F32(roi[0]), F32(roi[1]), F32(n_in - 1)
        if n_out == 1:
            return np.full(n_out, (end - start) * span / F32(2) + start * span, F32)
        return start * span + x * (end - start) * span / F32(n_out - 1)
    half = F32(0.5)
    if mode == "half_pixel":
        return (x + half) / scale - half
    if mode == "half_pixel_symmetric":  # onnxruntime finishes this one in double precision
        adjustment = F32(n_out) / (scale * F32(n_in))
        offset = F32(n_in) / F32(2) * (F32(1) - adjustment)
        return (np.float64(offset) + (x.astype(np.float64) + 0.5) / np.float64(scale) - 0.5).astype(F32)
    if mode == "pytorch_half_pixel":
        return (x + half) / scale - half if n_out > 1 else np.zeros(n_out, F32)
    if mode == "align_corners":
        return x * F32(n_in - 1) / F32(n_out - 1) if n_out > 1 else np.zeros(n_out, F32)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + half) / scale
    raise ValueError(mode)


def nearest_index(coord: np.ndarray, rule: str, downsampling: bool) -> np.ndarray:
    """The input index of each coordinate under ONNX's nearest_mode ("simple": onnxruntime's rule for
    opset < 11 Resize / Upsample: ceil when downsampling, truncation otherwise). As onnxruntime does,
    a coordinate within 1e-6 of a half counts as a tie, so float error in the coordinate cannot flip it."""
    floor = np.floor(coord)
    tie = np.abs(coord - floor - F32(0.5)) <= F32(1e-6)
    nearest = np.sign(coord) * np.floor(np.abs(coord) + F32(0.5))  # half away from zero (C round)
    if rule == "round_prefer_floor":
        idx = np.where(tie, floor, nearest)
    elif rule == "round_prefer_ceil":
        idx = np.where(tie, floor + 1, nearest)
    elif rule == "floor":
        idx = floor
    elif rule == "ceil":
        idx = np.ceil(coord)
    else:
        idx = np.ceil(coord) if downsampling else np.trunc(coord)
    return idx.astype(np.int64)


def cubic_coeffs(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution weights of the taps at floor - 1 .. floor + 2, for the fractions t."""
    a = F32(a)
    d = [t + 1, t, 1 - t, 2 - t]  # distances to the four taps
    near = lambda s: ((a + 2) * s - (a + 3)) * s * s + 1  # noqa: E731 - |s| <= 1
    far = lambda s: ((a * s - 5 * a) * s + 8 * a) * s - 4 * a  # noqa: E731 - 1 < |s| < 2
    return np.stack([far(d[0]), near(d[1]), near(d[2]), far(d[3])], axis=-1).astype(F32)


def axis_table(
    n_out: int,
    n_in: int,
    scale: np.float32,
    mode: str,
    coord_mode: str,
    rule: str,
    a: float,
    exclude: bool,
    roi: tuple[float, float] = (0.0, 1.0),
    antialias: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices int32 (n_out, K), weights float32 (n_out, K)) of one axis; under tf_crop_and_resize the
    weights of output positions whose coordinate falls outside the input are 0."""
    coord = source_coords(n_out, n_in, scale, coord_mode, roi)
    if coord_mode == "tf_crop_and_resize":
        outside = (coord < 0) | (coord > F32(n_in - 1))
        idx, w = _table(coord, n_in, scale, mode, rule, a, exclude)
        return idx, np.where(outside[:, None], F32(0), w).astype(F32)
    if antialias and mode != "nearest":
        return antialias_table(coord, n_in, scale, mode, a, exclude)
    return _table(coord, n_in, scale, mode, rule, a, exclude)


def antialias_table(coord, n_in: int, scale: float, mode: str, a: float, exclude: bool):
    """(indices, weights) of antialiased linear / cubic resizing (ONNX Resize antialias=1): when
    downsampling, the filter stretches by 1 / scale, so K grows; taps picked as the ONNX reference does."""
    coord = coord.astype(np.float64)
    s = min(float(scale), 1.0)
    base = np.floor(coord)
    ratio = np.where(coord == base, 1.0, coord - base)
    if mode == "linear":
        start = int(np.floor(-1 / s) + 1)
        args = (np.arange(start, 2 - start)[None, :] - ratio[:, None]) * s
        w = np.clip(1 - np.abs(args), 0, 1)
    else:
        start = int(np.floor(-2 / s) + 1)
        t = np.abs(s * (np.arange(start, 2 - start)[None, :] - ratio[:, None]))
        near = ((a + 2) * t - (a + 3)) * t * t + 1
        far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
        w = np.where(t <= 1, near, np.where(t < 2, far, 0.0))
    w = w / w.sum(axis=1, keepdims=True)
    n = w.shape[1]
    pad = int(np.ceil(n / 2))
    padded = coord + pad
    p = np.floor(padded).astype(np.int64)
    frac = padded - p
    if n % 2 == 0:
        offset = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = (p + offset)[:, None] + np.arange(n)[None, :] - pad
    if exclude:
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, n_in - 1).astype(np.int32), w.astype(F32)


def _table(coord, n_in, scale, mode, rule, a, exclude):
    n_out = len(coord)
    if mode == "nearest":
        idx = np.clip(nearest_index(coord, rule, scale < 1), 0, n_in - 1)[:, None]
        return idx.astype(np.int32), np.ones((n_out, 1), F32)
    if mode == "linear":
        c = np.clip(coord, F32(0), F32(n_in - 1))
        lo = np.floor(c).astype(np.int64)
        frac = (c - lo.astype(F32)).astype(F32)
        idx = np.stack([lo, np.minimum(lo + 1, n_in - 1)], axis=-1)
        return idx.astype(np.int32), np.stack([F32(1) - frac, frac], axis=-1)
    lo = np.floor(coord).astype(np.int64)
    w = cubic_coeffs((coord - lo.astype(F32)).astype(F32), a)
    idx = lo[:, None] + np.arange(-1, 3)
    if exclude:  # taps outside the input get no weight; the rest are renormalised
        w = np.where((idx >= 0) & (idx < n_in), w, F32(0))
        w = (w / w.sum(axis=-1, keepdims=True)).astype(F32)
    return np.clip(idx, 0, n_in - 1).astype(np.int32), w


def _build():
    import tvm
    from tvm import te

    from .simd_schedules import dims, prim_func

    p, h, w, oh, ow, kh, kw = dims("planes", "h", "w", "oh", "ow", "kh", "kw")
    x = te.placeholder((p, h, w), "float32", name="x")
    iy, ix = te.placeholder((oh, kh), "int32", name="iy"), te.placeholder((kw, ow), "int32", name="ix")
    wy, wx = te.placeholder((oh, kh), "float32", name="wy"), te.placeholder((kw, ow), "float32", name="wx")
    a, b = te.reduce_axis((0, kh), "a"), te.reduce_axis((0, kw), "b")
    rows = te.compute((p, oh, w), lambda n, i, j: te.sum(wy[i, a] * x[n, iy[i, a], j], axis=a), name="rows")
    out = te.compute((p, oh, ow), lambda n, i, j: te.sum(wx[b, j] * rows[n, i, ix[b, j]], axis=b), name="out")
    sch = tvm.s_tir.Schedule(prim_func([x, iy, wy, ix, wx, out]))
    row_loop = sch.get_loops(sch.get_sblock("out"))[1]
    blk = sch.get_sblock("rows")
    sch.compute_at(blk, row_loop)  # one blended input row per output row, while it is in cache
    col, tap = sch.get_loops(blk)[-2:]
    sch.reorder(tap, col)  # taps outer: a plain contiguous row loop that LLVM vectorises
    sch.decompose_reduction(blk, tap)
    out_blk = sch.get_sblock("out")
    col, tap = sch.get_loops(out_blk)[-2:]
    sch.reorder(tap, col)  # taps outer again: the gather loop runs along contiguous table rows
    sch.decompose_reduction(out_blk, tap)
    return sch.mod["main"]


class Resize2d(Op):
    name = "resize2d"

    def kernels(self) -> list[Kernel]:
        return [Kernel("f32_resize2d", _build, (TENSOR,) * 6)]

    def _tables(
        self, x_shape, size, scales, mode, coord_mode, nearest_mode, cubic_coeff_a, exclude_outside, roi, antialias
    ):
        """Validate the attributes; return ((oh, ow), (iy, wy), (ix, wx)). Given both, size sets the output
        and scales the coordinate mapping (ONNX keep_aspect_ratio_policy)."""
        if mode not in MODES:
            raise self.fail(f"mode must be one of {sorted(MODES)}, got {mode!r}")
        if coord_mode not in COORDINATE_MODES:
            raise self.fail(f"coordinate_transformation_mode must be one of {COORDINATE_MODES}, got {coord_mode!r}")
        if nearest_mode not in NEAREST_MODES:
            raise self.fail(f"nearest_mode must be one of {NEAREST_MODES}, got {nearest_mode!r}")
        h, w = x_shape[2:]
        if h == 0 or w == 0:
            raise self.fail(f"x must have non-empty spatial dimensions, got shape {tuple(x_shape)}")
        if size is None and scales is None:
            raise self.fail("give size or scales")
        if size is not None and scales is None:
            out = self.ints(size, 2, "size", minimum=1)
            factors = tuple(F32(o) / F32(i) for o, i in zip(out, (h, w), strict=True))
        else:
            try:
                factors = tuple(F32(s) for s in np.broadcast_to(np.asarray(scales, np.float64), (2,)))
            except (TypeError, ValueError):
                raise self.fail(f"scales must be a number or a pair of numbers, got {scales!r}") from None
            if not all(np.isfinite(s) and s > 0 for s in factors):
                raise self.fail(f"scales must be finite and > 0, got {scales!r}")
            out = tuple(int(np.floor(s * F32(i))) for s, i in zip(factors, (h, w), strict=True))
            if size is not None:
                out = self.ints(size, 2, "size", minimum=1)
            if min(out) < 1:
                raise self.fail(f"scales {scales!r} give an empty output {out} for input {(h, w)}")
        args = (mode, coord_mode, nearest_mode, float(cubic_coeff_a), bool(exclude_outside))
        rois = ((0.0, 1.0), (0.0, 1.0))
        if coord_mode == "tf_crop_and_resize":
            roi = (0.0, 0.0, 1.0, 1.0) if roi is None else roi  # ONNX's default: the whole input
            if np.size(roi) != 4:
                raise self.fail(f"tf_crop_and_resize needs roi (h_start, w_start, h_end, w_end), got {roi!r}")
            r = [float(v) for v in np.asarray(roi, np.float32).reshape(-1)]
            rois = ((r[0], r[2]), (r[1], r[3]))
        tables = [
            axis_table(o, i, s, *args, roi=ri, antialias=bool(antialias))
            for o, i, s, ri in zip(out, (h, w), factors, rois, strict=True)
        ]
        return out, tables[0], tables[1]

    def reference(
        self,
        x,
        size=None,
        mode="nearest",
        coordinate_transformation_mode="half_pixel",
        nearest_mode="round_prefer_floor",
        scales=None,
        cubic_coeff_a=-0.75,
        exclude_outside=False,
        roi=None,
        antialias=False,
    ) -> np.ndarray:
        # The per-axis index / weight tables are shared with the plan (the ONNX tests check them against
        # onnxruntime); the interpolation itself is written out here in float64, not as the kernel's blend.
        x = np.asarray(x)
        out, (iy, wy), (ix, wx) = self._tables(
            x.shape,
            size,
            scales,
            mode,
            coordinate_transformation_mode,
            nearest_mode,
            cubic_coeff_a,
            exclude_outside,
            roi,
            antialias,
        )
        xd = x.astype(np.float64)
        y = np.zeros((*x.shape[:2], *out))
        for a in range(iy.shape[1]):
            for b in range(ix.shape[1]):
                taps = xd[:, :, iy[:, a]][:, :, :, ix[:, b]]
                y += wy[:, a].astype(np.float64)[:, None] * wx[:, b].astype(np.float64)[None, :] * taps
        return y.astype(x.dtype)

    def plan(
        self,
        x: np.ndarray,
        size: int | Sequence[int] | None = None,
        mode: str = "nearest",
        coordinate_transformation_mode: str = "half_pixel",
        nearest_mode: str = "round_prefer_floor",
        scales: float | Sequence[float] | None = None,
        cubic_coeff_a: float = -0.75,
        exclude_outside: bool = False,
        roi: Sequence[float] | None = None,
        antialias: bool = False,
    ) -> Call:
        """Resize the last two axes of an NCHW tensor, as ONNX Resize (opset 11+) on the spatial axes.

        x: float32 (N, C, H, W). Give size ((OH, OW) or one int for both), scales, or both (size is then
        the output and scales the coordinate mapping, as ONNX keep_aspect_ratio_policy), scales
        (one factor or (scale_h, scale_w); OH = floor(H * scale_h) and the coordinate mapping uses the
        scale itself). mode: "nearest", "linear" (bilinear) or "cubic" (bicubic, cubic_coeff_a, taps outside
        the input clamped to the edge or, with exclude_outside, dropped). coordinate_transformation_mode:
        "half_pixel" (default), "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
        "asymmetric", "tf_half_pixel_for_nn" or "tf_crop_and_resize" (with roi = (h_start, w_start, h_end,
        w_end) in input fractions; outputs sampled outside the input are 0). nearest_mode:
        "round_prefer_floor" (default), "round_prefer_ceil", "floor", "ceil" or "simple" (opset < 11: ceil
        when downsampling, else truncate). antialias: linear / cubic downsampling with the filter stretched
        by 1 / scale (more taps), as ONNX Resize antialias=1. Returns float32 (N, C, OH, OW).
        """
        x = self.tensor(x, "x", ndim=4)
        out, (iy, wy), (ix, wx) = self._tables(
            x.shape,
            size,
            scales,
            mode,
            coordinate_transformation_mode,
            nearest_mode,
            cubic_coeff_a,
            exclude_outside,
            roi,
            antialias,
        )
        n, c, h, w = x.shape
        planes = n * c
        return Call(
            "f32_resize2d",
            [x.reshape(planes, h, w), iy, wy, np.ascontiguousarray(ix.T), np.ascontiguousarray(wx.T)],
            (planes, *out),
            np.float32,
            result_shape=(n, c, *out),
        )


OPS = [Resize2d()]

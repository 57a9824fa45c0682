"""grid_sample: sample an (N, C, H, W) or (N, C, D, H, W) tensor at normalised grid positions (ONNX GridSample).

The grid is a run-time tensor, so the taps are found in the kernel. A first stage turns each grid point into
K taps (nearest 1, linear 2 per axis, cubic 4 per axis): a flat index into the input plane (-1 for a tap
outside it under zero padding) and a weight; the second stage sums weight * x over the taps, per channel.
Coordinates follow the ONNX reference in float32: denormalise, round (nearest, half to even), then
border-clamp or reflect coordinates outside the border, then per tap: zero / clamp / reflect the index.
One kernel per (rank, mode, padding mode); align_corners is an int scalar.
"""

from __future__ import annotations

import numpy as np

from .spec import INT, TENSOR, Call, Kernel, Op

MODES = {"nearest": 1, "linear": 2, "cubic": 4}  # taps per axis
PADDING = ("zeros", "border", "reflection")
CUBIC_A = -0.75


def _build(rank: int, mode: str, padding: str):
    import tvm
    from tvm import te
    from tvm.tirx import Select

    from .simd_schedules import dims, prim_func

    f32 = "float32"

    def c(v):
        return tvm.tirx.const(v, f32)

    n, ch, npts = dims("n", "c", "points")
    spatial = dims(*("d", "h", "w")[3 - rank :])
    x = te.placeholder((n, ch, *spatial), f32, name="x")
    grid = te.placeholder((n, npts, rank), f32, name="grid")
    align = te.var("align_corners", "int32")
    per_axis = MODES[mode]
    taps = per_axis**rank

    def axis_value(b, p, axis):
        """(coordinate after the border rules, lo, hi, size) along spatial axis `axis` (0 = outermost)."""
        size = spatial[axis].astype(f32)
        g = grid[b, p, rank - 1 - axis]  # the grid lists x (width) first
        v = Select(align != 0, (g + c(1)) / c(2) * (size - c(1)), ((g + c(1)) * size - c(1)) / c(2))
        if mode == "nearest":
            v = tvm.tirx.round(v)  # nearbyint: half to even, as np.rint
        lo = Select(align != 0, c(0), c(-0.5))
        hi = Select(align != 0, size - c(1), size - c(0.5))
        if padding == "border":
            v = Select(tvm.tirx.any(v < lo, v > hi), te.min(te.max(v, c(0)), size - c(1)), v)
        elif padding == "reflection":
            v = _reflect(v, lo, hi)
        return v, lo, hi, spatial[axis]

    def _reflect(v, lo, hi):
        rng = hi - lo
        below, above = lo - v, v - hi
        dx = Select(v < lo, below, above)
        k = tvm.tirx.trunc(dx / rng)
        r = dx - k * rng
        even = (k - c(2) * tvm.tirx.floor(k / c(2))) == c(0)
        from_lo, from_hi = lo + r, hi - r
        inside = tvm.tirx.all(v >= lo, v <= hi)
        return Select(inside, v, Select(v < lo, Select(even, from_lo, from_hi), Select(even, from_hi, from_lo)))

    def coord_stage(axis):
        return te.compute((n, npts), lambda b, p: axis_value(b, p, axis)[0], name=f"coord{axis}")

    coords = [coord_stage(axis) for axis in range(rank)]

    def tap(b, p, t, axis):
        """(index or -1, weight) of tap t along one axis."""
        v, size = coords[axis][b, p], spatial[axis]
        lo = Select(align != 0, c(0), c(-0.5))
        hi = Select(align != 0, size.astype(f32) - c(1), size.astype(f32) - c(0.5))
        j = (t // per_axis ** (rank - 1 - axis)) % per_axis
        if mode == "nearest":
            i, w = v.astype("int32"), c(1)
        else:
            base = tvm.tirx.floor(v)
            frac = v - base
            i = base.astype("int32") + j - (1 if mode == "cubic" else 0)
            if mode == "linear":
                w = Select(j == 0, c(1) - frac, frac)
            else:
                a = c(CUBIC_A)
                s = tvm.tirx.abs(frac)
                d = [s + c(1), s, c(1) - s, c(2) - s]
                far = lambda u: ((a * u - c(5) * a) * u + c(8) * a) * u - c(4) * a  # noqa: E731
                near = lambda u: ((a + c(2)) * u - (a + c(3))) * u * u + c(1)  # noqa: E731
                w = Select(j == 0, far(d[0]), Select(j == 1, near(d[1]), Select(j == 2, near(d[2]), far(d[3]))))
        if padding == "zeros":
            i = Select(tvm.tirx.all(i >= 0, i < size), i, -1)
        elif padding == "border":
            i = te.min(te.max(i, 0), size - 1)
        else:
            i = _reflect(i.astype(f32), lo, hi).astype("int32")
            i = te.min(te.max(i, 0), size - 1)  # already inside: a guard for NaN grids
        return i, w

    def index(b, p, t, a):
        """Axis a's index of tap t; under zero padding axis 0 holds -1 when any axis is outside."""
        each = [tap(b, p, t, axis)[0] for axis in range(rank)]
        if padding == "zeros":
            outside = tvm.tirx.any(*[i < 0 for i in each])
            each = [Select(outside, -1, each[0])] + [te.max(i, 0) for i in each[1:]]
        out = each[-1]
        for axis in range(rank - 2, -1, -1):
            out = Select(a == axis, each[axis], out)
        return out

    def weight(b, p, t):
        w = c(1)
        for axis in range(rank):
            w = w * tap(b, p, t, axis)[1]
        return w

    idx = te.compute((n, npts, taps, rank), index, name="idx")
    wgt = te.compute((n, npts, taps), weight, name="wgt")
    t = te.reduce_axis((0, taps), "t")

    def sample(b, k, p):
        first = idx[b, p, t, 0]
        value = x[(b, k, te.max(first, 0), *[idx[b, p, t, a] for a in range(1, rank)])]
        return te.sum(Select(first >= 0, wgt[b, p, t] * value, c(0)), axis=t)

    out = te.compute((n, ch, npts), sample, name="out")
    sch = tvm.s_tir.Schedule(prim_func([x, grid, out, align]))
    # the taps of one grid point serve every channel: (batch, point, channel, tap), taps computed per point
    _, k_loop, p_loop, _ = sch.get_loops(sch.get_sblock("out"))
    sch.reorder(p_loop, k_loop)
    for name in ("idx", "wgt", *(f"coord{axis}" for axis in range(rank))):
        sch.compute_at(sch.get_sblock(name), p_loop)
    return sch.mod["main"]


# ---- numpy reference ----------------------------------------------------------------------------------
def _reflect_np(v, lo, hi):
    rng = hi - lo
    dx = np.where(v < lo, lo - v, v - hi)
    k = np.trunc(dx / rng)
    r = dx - k * rng
    even = k % 2 == 0
    out = np.where(v < lo, np.where(even, lo + r, hi - r), np.where(even, hi - r, lo + r))
    return np.where((v >= lo) & (v <= hi), v, out)


def _cubic_np(s):
    a = CUBIC_A
    far = lambda u: ((a * u - 5 * a) * u + 8 * a) * u - 4 * a  # noqa: E731
    near = lambda u: ((a + 2) * u - (a + 3)) * u * u + 1  # noqa: E731
    return [far(s + 1), near(s), near(1 - s), far(2 - s)]


def reference_grid_sample(x, grid, mode: str, padding_mode: str, align_corners: bool) -> np.ndarray:
    """ONNX GridSample in numpy (float64 weights), vectorised over the grid points."""
    spatial = x.shape[2:]
    rank = len(spatial)
    n, c = x.shape[:2]
    pts = grid.reshape(n, -1, rank).astype(np.float32)
    per_axis = []  # per axis: list of (index, valid, weight) arrays of shape (n, P)
    for axis, size in enumerate(spatial):
        g = pts[:, :, rank - 1 - axis]
        if align_corners:
            v = (g + np.float32(1)) / np.float32(2) * np.float32(size - 1)
            lo, hi = 0.0, size - 1.0
        else:
            v = ((g + np.float32(1)) * np.float32(size) - np.float32(1)) / np.float32(2)
            lo, hi = -0.5, size - 0.5
        v = v.astype(np.float64)
        if mode == "nearest":
            v = np.rint(v)
        if padding_mode == "border":
            v = np.where((v < lo) | (v > hi), np.clip(v, 0, size - 1), v)
        elif padding_mode == "reflection":
            v = _reflect_np(v, lo, hi)
        if mode == "nearest":
            cands = [(v.astype(np.int64), np.ones_like(v))]
        else:
            base = np.floor(v)
            frac = v - base
            if mode == "linear":
                cands = [(base.astype(np.int64), 1 - frac), (base.astype(np.int64) + 1, frac)]
            else:
                ws = _cubic_np(np.abs(frac))
                cands = [(base.astype(np.int64) + j - 1, ws[j]) for j in range(4)]
        taps = []
        for i, w in cands:
            if padding_mode == "zeros":
                valid = (i >= 0) & (i < size)
            else:
                valid = np.ones(i.shape, bool)
                if padding_mode == "border":
                    i = np.clip(i, 0, size - 1)
                else:
                    i = np.clip(_reflect_np(i.astype(np.float64), lo, hi).astype(np.int64), 0, size - 1)
            taps.append((np.where(valid, i, 0), valid, w))
        per_axis.append(taps)
    out = np.zeros((n, c, pts.shape[1]))
    xs = x.reshape(n, c, -1).astype(np.float64)
    combos = np.stack(np.meshgrid(*[np.arange(len(t)) for t in per_axis], indexing="ij"), -1).reshape(-1, rank)
    for combo in combos:
        flat, valid, w = np.zeros(pts.shape[:2], np.int64), np.ones(pts.shape[:2], bool), np.ones(pts.shape[:2])
        for axis, j in enumerate(combo):
            i, ok, ww = per_axis[axis][j]
            flat, valid, w = flat * spatial[axis] + i, valid & ok, w * ww
        vals = np.take_along_axis(xs, flat[:, None, :].repeat(c, 1), axis=2)
        out += np.where(valid[:, None, :], w[:, None, :] * vals, 0)
    return out.reshape(n, c, *grid.shape[1:-1]).astype(x.dtype)


class GridSample(Op):
    name = "grid_sample"

    def kernels(self) -> list[Kernel]:
        return [
            Kernel(
                f"f32_grid_sample{rank}d_{mode}_{pad}",
                lambda rank=rank, mode=mode, pad=pad: _build(rank, mode, pad),
                (TENSOR, TENSOR, TENSOR, INT),
            )
            for rank in (2, 3)
            for mode in MODES
            for pad in PADDING
            if not (rank == 3 and mode == "cubic")
        ]

    def _check(self, x, grid, mode, padding_mode, align_corners):
        if mode not in MODES:
            raise self.fail(f"mode must be one of {sorted(MODES)}, got {mode!r}")
        if padding_mode not in PADDING:
            raise self.fail(f"padding_mode must be one of {PADDING}, got {padding_mode!r}")
        rank = len(x.shape) - 2
        if rank not in (2, 3):
            raise self.fail(f"x must be (N, C, H, W) or (N, C, D, H, W), got shape {tuple(x.shape)}")
        if rank == 3 and mode == "cubic":
            raise self.fail("cubic mode is only supported on 4-D (N, C, H, W) input")
        if len(grid.shape) != rank + 2 or grid.shape[0] != x.shape[0] or grid.shape[-1] != rank:
            raise self.fail(f"grid must be (N, ..., {rank}) with N = {x.shape[0]}, got shape {tuple(grid.shape)}")
        if min(x.shape[2:]) < 1:
            raise self.fail(f"x must have non-empty spatial dimensions, got shape {tuple(x.shape)}")
        if padding_mode == "reflection" and align_corners and min(x.shape[2:]) == 1:
            raise self.fail("reflection padding with align_corners needs every spatial dimension > 1")

    def reference(self, x, grid, mode="linear", padding_mode="zeros", align_corners=False) -> np.ndarray:
        x, grid = np.asarray(x), np.asarray(grid)
        self._check(x, grid, mode, padding_mode, align_corners)
        return reference_grid_sample(x, grid, mode, padding_mode, bool(align_corners))

    def plan(
        self,
        x: np.ndarray,
        grid: np.ndarray,
        mode: str = "linear",
        padding_mode: str = "zeros",
        align_corners: bool = False,
    ) -> Call:
        """Sample x at grid positions, as ONNX GridSample / torch.nn.functional.grid_sample.

        x: float32 (N, C, H, W) or (N, C, D, H, W). grid: float32 (N, OH, OW, 2) or (N, OD, OH, OW, 3),
        (x, y[, z]) in [-1, 1] (corner pixel centres with align_corners, else corner pixel edges).
        mode: "nearest" (half to even), "linear" or "cubic" (4-D only). padding_mode: "zeros", "border"
        or "reflection". Returns float32 (N, C, *grid.shape[1:-1]).
        """
        x = self.tensor(x, "x", ndim=(4, 5))
        grid = self.tensor(grid, "grid", ndim=(4, 5))
        self._check(x, grid, mode, padding_mode, align_corners)
        rank = len(x.shape) - 2
        n, c = x.shape[:2]
        out_spatial = tuple(grid.shape[1:-1])
        points = int(np.prod(out_spatial, dtype=np.int64))
        return Call(
            f"f32_grid_sample{rank}d_{mode}_{padding_mode}",
            [x, grid.reshape(n, points, rank)],
            (n, c, points),
            np.float32,
            (int(bool(align_corners)),),
            (n, c, *out_spatial),
        )


OPS = [GridSample()]

"""conv_transpose2d: 2-D transposed convolution ("deconvolution"), NCHW, PyTorch semantics and weight layout.

Run as conv2d's kernels plus one cheap layout step, chosen by the plan:
* stride 1: a plain convolution with the flipped, transposed kernel w'[o, i, r, s] = w[i, o, KH-1-r, KW-1-s]
  (per group), padded by dilation * (k - 1) - padding (conv2d pads by itself);
* stride > 1 (sub-pixel decomposition): output pixel o (in the uncropped output, o' = o + padding) of
  phase o' % stride only meets the taps r with r * dilation = o' (mod stride). Each phase is a stride-1
  convolution of x itself with its sub-kernel, so one conv2d call computes all phases as stride_h *
  stride_w times the output channels (no multiply-add is wasted on inserted zeros), and
  `f32_conv_transpose2d_shuffle` interleaves the phases into the output (depth-to-space) and crops;
* padding so large that a phase would start inside x (cropping more than dilation * (k - 1)): the
  zero-insertion fallback, `f32_conv_transpose2d_dilate` then a stride-1 conv2d.
Weights are rearranged on the host, so the weight must be a host array (a constant in graphs).

These plans multiply some zeros the definition never multiplies: the sub-pixel sub-kernels' missing taps
(times x) and the zero-inserted / padded input (times the weight). With finite operands those products are 0;
an inf or NaN operand makes them NaN where the definition (onnxruntime's col2im, the reference) has ±inf or a
number. So when x may meet a missing tap, or the weight is not finite, `f32_conv_transpose2d_fixup` follows:
every NaN output is summed again over exactly the taps the definition adds (others are copied), so the cost is
one pass over the output unless NaNs appear.
"""

from __future__ import annotations

import numpy as np

from .spec import INT, PREV, TENSOR, Call, Kernel, Op, TensorRef


def _build_dilate(flat: bool):
    """y[b, c, yy, xx] = x[b, c, (yy - top) / sh, (xx - left) / sw] where both divide exactly and land in
    x, else 0. top / left may be negative (cropping). Each output row is one fill (memset) and, when it
    holds an input row, a strided scatter of that row. `flat`: y is (N, C, HD * WD) (wd is a scalar), the
    layout conv2d's 1x1 kernel takes."""
    from tvm.script.parser import parse

    shape = "(n, c, hwd)" if flat else "(n, c, hd, wd)"
    row = "y[b, ch, yy * wd + j]" if flat else "y[b, ch, yy, j]"
    col = "y[b, ch, yy * wd + xx]" if flat else "y[b, ch, yy, xx]"
    extra = ", hd: T.int32, wd: T.int32" if flat else ""
    src = f"""
@T.prim_func
def main(x_h: T.handle, y_h: T.handle, sh: T.int32, sw: T.int32, top: T.int32, left: T.int32{extra}):
    T.func_attr({{"tirx.noalias": True}})
    n, c, h, w = T.int32(), T.int32(), T.int32(), T.int32()
    {"hwd = T.int32()" if flat else "hd, wd = T.int32(), T.int32()"}
    x = T.match_buffer(x_h, (n, c, h, w), "float32")
    y = T.match_buffer(y_h, {shape}, "float32")
    for b, ch, yy in T.grid(n, c, hd):
        for j in range(wd):
            {row} = T.float32(0)
        if yy - top >= 0 and (yy - top) % sh == 0 and (yy - top) // sh < h:
            for j in range(w):
                xx = left + j * sw
                if xx >= 0 and xx < wd:
                    {col} = x[b, ch, (yy - top) // sh, j]
"""
    return parse(src)


def _build_shuffle(flat: bool):
    """Depth-to-space for the sub-pixel plan: y[b, co, oy, ox] = z[b, channel, qy, qx] where o' = o + pad,
    phase = o' % stride, q = o' // stride - pad // stride, and z's channels are ordered (group, phase_y,
    phase_x, channel in group). Each output row is walked as (qx, phase_x) pairs: no division per element.
    `flat`: z is (N, K, QH * QW) with qw a scalar, the layout of conv2d's 1x1 / im2col kernels."""
    from tvm.script.parser import parse

    shape = "(n, k, qhw)" if flat else "(n, k, qh, qw)"
    load = "z[b, base + px * og, qy * qw + qx]" if flat else "z[b, base + px * og, qy, qx]"
    extra = ", qw: T.int32" if flat else ""
    src = f"""
@T.prim_func
def main(z_h: T.handle, y_h: T.handle, sh: T.int32, sw: T.int32, top: T.int32, left: T.int32, groups: T.int32{extra}):
    T.func_attr({{"tirx.noalias": True}})
    n, k, co_n, oh, ow = T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
    {"qhw = T.int32()" if flat else "qh, qw = T.int32(), T.int32()"}
    z = T.match_buffer(z_h, {shape}, "float32")
    y = T.match_buffer(y_h, (n, co_n, oh, ow), "float32")
    og = co_n // groups
    for b, co, oy in T.grid(n, co_n, oh):
        qy = (oy + top) // sh - top // sh
        base = ((co // og * sh + (oy + top) % sh) * sw) * og + co % og
        for qx, px in T.grid(qw, sw):
            ox = (qx + left // sw) * sw + px - left
            if ox >= 0 and ox < ow:
                y[b, co, oy, ox] = {load}
"""
    return parse(src)


#: the layouts the fix-up reads z in: conv2d's (N, C_out, OH, OW), its 1x1 / im2col (N, C_out, OH * OW), and
#: conv2d_backward_data's GEMM (N, groups, C_out / groups, OH * OW)
FIXUP_LAYOUTS = {
    "": ("(n, co_n, oh, ow)", "b, co, oy, ox", ""),
    "_flat": ("(n, co_n, ohw)", "b, co, oy * ow + ox", "ohw = T.int32()"),
    "_grouped": (
        "(n, zg, zc, ohw)",
        "b, co // zc, co % zc, oy * ow + ox",
        "zg, zc, ohw = T.int32(), T.int32(), T.int32()",
    ),
}


FIXUP_ARGS = (TENSOR,) * 5 + (INT,) * 7  # z, x, w, bias, y; stride, dilation, top / left cropping, groups


def _build_fixup(layout: str):
    """y = z, except where z is NaN: y = bias + the sum over the taps (ci, r, q) that the definition adds to
    that output, (oy + top - r * dh) and (ox + left - q * dw) multiples of the stride inside x. z's layout is
    one of FIXUP_LAYOUTS."""
    from tvm.script.parser import parse

    shape, at, dims = FIXUP_LAYOUTS[layout]
    src = f"""
@T.prim_func
def main(z_h: T.handle, x_h: T.handle, w_h: T.handle, b_h: T.handle, y_h: T.handle, sh: T.int32, sw: T.int32,
         dh: T.int32, dw: T.int32, top: T.int32, left: T.int32, groups: T.int32):
    T.func_attr({{"tirx.noalias": True}})
    n, co_n, oh, ow, c, h, wi = T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
    og, kh, kw = T.int32(), T.int32(), T.int32()
    {dims}
    z = T.match_buffer(z_h, {shape}, "float32")
    x = T.match_buffer(x_h, (n, c, h, wi), "float32")
    wt = T.match_buffer(w_h, (c, og, kh, kw), "float32")
    bias = T.match_buffer(b_h, (co_n,), "float32")
    y = T.match_buffer(y_h, (n, co_n, oh, ow), "float32")
    acc = T.alloc_buffer((1,), "float32", scope="local")
    ig = c // groups
    for b, co, oy, ox in T.grid(n, co_n, oh, ow):
        if (T.reinterpret("int32", z[{at}]) & 0x7FFFFFFF) > 0x7F800000:
            acc[0] = bias[co]
            for ci, r, q in T.grid(ig, kh, kw):
                ty = oy + top - r * dh
                tx = ox + left - q * dw
                if ty >= 0 and tx >= 0 and ty % sh == 0 and tx % sw == 0 and ty // sh < h and tx // sw < wi:
                    cin = co // og * ig + ci
                    acc[0] = acc[0] + x[b, cin, ty // sh, tx // sw] * wt[cin, co % og, r, q]
            y[b, co, oy, ox] = acc[0]
        else:
            y[b, co, oy, ox] = z[{at}]
"""
    return parse(src)


def _phase_taps(k: int, s: int, d: int) -> tuple[int, list[list[tuple[int, int]]]]:
    """One axis of the sub-pixel plan: (M, taps) where the sub-kernels have M + 1 taps and taps[phase]
    lists (r, j): kernel tap r lands at sub-kernel position j for that phase."""
    m = (k - 1) * d // s
    return m, [[(r, m - (r * d - p) // s) for r in range(k) if r * d % s == p] for p in range(s)]


def _phase_weight(w: np.ndarray, groups: int, taps_h, taps_w, jh: int, jw: int) -> np.ndarray:
    """conv2d weight (groups * SH * SW * C_out/g, C_in/g, JH, JW), channels ordered (group, phase_y,
    phase_x, channel): each phase's sub-kernel, flipped and transposed like the stride-1 kernel."""
    c_in, og = w.shape[:2]
    wg = w.reshape(groups, c_in // groups, og, *w.shape[2:]).transpose(0, 2, 1, 3, 4)  # (g, og, ig, kh, kw)
    v = np.zeros((groups, len(taps_h), len(taps_w), og, c_in // groups, jh, jw), np.float32)
    for py, row in enumerate(taps_h):
        for ry, jy in row:
            for px, col in enumerate(taps_w):
                for rx, jx in col:
                    v[:, py, px, :, :, jy, jx] = wg[..., ry, rx]
    return v.reshape(-1, c_in // groups, jh, jw)


def _flip_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """(C_in, C_out / g, KH, KW) -> conv2d's (C_out, C_in / g, KH, KW), spatially flipped, per group."""
    c_in, og, kh, kw = w.shape
    wg = w.reshape(groups, c_in // groups, og, kh, kw)[..., ::-1, ::-1]
    return np.ascontiguousarray(wg.transpose(0, 2, 1, 3, 4).reshape(groups * og, c_in // groups, kh, kw))


class ConvTranspose2d(Op):
    name = "conv_transpose2d"
    uses = ("conv2d",)

    def kernels(self) -> list[Kernel]:
        return [
            Kernel("f32_conv_transpose2d_dilate", lambda: _build_dilate(False), (TENSOR, TENSOR) + (INT,) * 4),
            Kernel("f32_conv_transpose2d_dilate_flat", lambda: _build_dilate(True), (TENSOR, TENSOR) + (INT,) * 6),
            Kernel("f32_conv_transpose2d_shuffle", lambda: _build_shuffle(False), (TENSOR, TENSOR) + (INT,) * 5),
            Kernel("f32_conv_transpose2d_shuffle_flat", lambda: _build_shuffle(True), (TENSOR, TENSOR) + (INT,) * 6),
        ] + [
            Kernel(f"f32_conv_transpose2d_fixup{layout}", lambda layout=layout: _build_fixup(layout), FIXUP_ARGS)
            for layout in FIXUP_LAYOUTS
        ]

    def reference(
        self, x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1
    ) -> np.ndarray:
        x, weight = np.asarray(x, np.float64), np.asarray(weight, np.float64)
        (sh, sw), (dh, dw) = self.ints(stride, 2, "stride"), self.ints(dilation, 2, "dilation")
        (oph, opw), (pt, pl, pb, pr) = self.ints(output_padding, 2, "output_padding"), self._pads(padding)
        n, c, h, w = x.shape
        _, og, kh, kw = weight.shape
        full = np.zeros(
            (n, og * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph, (w - 1) * sw + dw * (kw - 1) + 1 + opw)
        )
        with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as the definition says
            self._scatter(full, x, weight, groups, (sh, sw), (dh, dw))
        out = full[:, :, pt : full.shape[2] - pb, pl : full.shape[3] - pr]
        if bias is not None:
            out = out + np.asarray(bias, np.float64)[None, :, None, None]
        return out.astype(np.float32)

    @staticmethod
    def _scatter(full, x, weight, groups, stride, dilation) -> None:
        """col2im: every input pixel adds x * w to the output pixels its taps reach, and nothing else."""
        (sh, sw), (dh, dw) = stride, dilation
        h, w = x.shape[2:]
        og, kh, kw = weight.shape[1:]
        ig = x.shape[1] // groups
        for g in range(groups):
            xs, ws = x[:, g * ig : (g + 1) * ig], weight[g * ig : (g + 1) * ig]
            for r in range(kh):
                for q in range(kw):  # every input pixel scatters its tap (r, q) to (i*sh + r*dh, j*sw + q*dw)
                    tap = np.einsum("nchw,co->nohw", xs, ws[:, :, r, q])
                    full[
                        :,
                        g * og : (g + 1) * og,
                        r * dh : r * dh + (h - 1) * sh + 1 : sh,
                        q * dw : q * dw + (w - 1) * sw + 1 : sw,
                    ] += tap

    def _pads(self, padding) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) from an int, (pad_h, pad_w) or (top, left, bottom, right), all >= 0."""
        if isinstance(padding, int | np.integer):
            padding = (padding, padding)
        pads = tuple(padding) if isinstance(padding, tuple | list) else padding
        if isinstance(pads, tuple) and len(pads) == 2:
            pads = pads * 2
        return self.ints(pads, 4, "padding (an int, (pad_h, pad_w) or (top, left, bottom, right))", minimum=0)

    def plan(
        self,
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None = None,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ) -> Call | list[Call]:
        """2-D transposed convolution (the gradient of conv2d w.r.t. its input), NCHW, as
        torch.nn.functional.conv_transpose2d.

        x: (N, C_in, H, W) float32; weight: (C_in, C_out // groups, KH, KW) float32 (PyTorch / ONNX
        ConvTranspose layout); bias: (C_out,) or None. stride, dilation: int or (h, w), >= 1. padding:
        int, (h, w) or (top, left, bottom, right), >= 0: trimmed from the full output. output_padding:
        int or (h, w), extra rows / columns at the bottom / right, each < max(stride, dilation).
        groups divides C_in. Returns (N, C_out, OH, OW) with
        OH = (H - 1) * stride_h - top - bottom + dilation_h * (KH - 1) + output_padding_h + 1.
        """
        x = self.tensor(x, "x", ndim=4)
        weight = self.tensor(weight, "weight", ndim=4)
        n, c, h, w = x.shape
        c_w, og, kh, kw = weight.shape
        (sh, sw), (dh, dw) = self.ints(stride, 2, "stride", minimum=1), self.ints(dilation, 2, "dilation", minimum=1)
        oph, opw = self.ints(output_padding, 2, "output_padding", minimum=0)
        pt, pl, pb, pr = self._pads(padding)
        if not isinstance(groups, int | np.integer) or groups < 1:
            raise self.fail(f"groups must be a positive int, got {groups!r}")
        if c_w != c:
            raise self.fail(f"weight has {c_w} input channels (dim 0), x has {c}")
        if c % groups:
            raise self.fail(f"groups={groups} must divide the input channels ({c})")
        if oph >= max(sh, dh) or opw >= max(sw, dw):
            raise self.fail(
                f"output_padding {(oph, opw)} must be smaller than max(stride, dilation) = "
                f"{(max(sh, dh), max(sw, dw))} along each axis"
            )
        if h == 0 or w == 0:
            raise self.fail(f"x must have non-empty spatial dimensions, got shape {x.shape}")
        oh = (h - 1) * sh - pt - pb + dh * (kh - 1) + oph + 1
        ow = (w - 1) * sw - pl - pr + dw * (kw - 1) + opw + 1
        if oh < 1 or ow < 1:
            raise self.fail(f"padding {(pt, pl, pb, pr)} leaves an empty output ({oh}, {ow})")
        if isinstance(weight, TensorRef):
            raise self.fail("weight must be a host array (a constant in graphs): it is rearranged on the host")
        k = og * groups
        if bias is not None:
            bias = self.tensor(bias, "bias", ndim=1)
            if bias.shape != (k,):
                raise self.fail(f"bias must have shape ({k},) (C_out), got {bias.shape}")
        chain, exact = self._conv_plan(
            x, weight, bias, (sh, sw), (dh, dw), (pt, pl, pb, pr), (oh, ow), (oph, opw), groups
        )
        if exact and np.isfinite(weight).all():
            return chain
        chain = [chain] if isinstance(chain, Call) else list(chain)
        z = chain[-1]
        if (z.result_shape or z.out_shape) != (n, k, oh, ow) or int(np.prod(z.out_shape)) != n * k * oh * ow:
            raise AssertionError(f"{self.name}: unexpected conv2d plan output {z!r}")  # the fix-up reads it dense
        b = np.zeros(k, np.float32) if bias is None else bias
        scalars = (sh, sw, dh, dw, pt, pl, groups)
        flat = "_flat" if len(z.out_shape) == 3 else ""
        fixup = Call(f"f32_conv_transpose2d_fixup{flat}", [PREV, x, weight, b], (n, k, oh, ow), np.float32, scalars)
        return [*chain, fixup]

    def _conv_plan(self, x, weight, bias, stride, dilation, pads, out_hw, output_padding, groups):
        """(conv2d plan, exact): exact when only zeros of x's padding or insertion meet the weight (no
        sub-kernel has a missing tap), so finite weights give the definition's result without the fix-up."""
        (sh, sw), (dh, dw), (pt, pl, pb, pr), (oh, ow), (oph, opw) = stride, dilation, pads, out_hw, output_padding
        n, c = x.shape[:2]
        kh, kw = weight.shape[2:]
        conv = _conv2d()
        wt = _flip_weight(weight, groups)
        # the equivalent stride-1 convolution's padding of the zero-inserted input (negative: cropping)
        top, left = dh * (kh - 1) - pt, dw * (kw - 1) - pl
        bottom, right = dh * (kh - 1) - pb + oph, dw * (kw - 1) - pr + opw
        if (sh, sw) == (1, 1) and min(top, left, bottom, right) >= 0:
            return conv.plan(x, wt, bias, padding=(top, left, bottom, right), dilation=(dh, dw), groups=groups), True
        (mh, taps_h), (mw, taps_w) = _phase_taps(kh, sh, dh), _phase_taps(kw, sw, dw)
        # (a bias already in wasm memory cannot be replicated per phase on the host: zero-insert instead)
        if mh >= pt // sh and mw >= pl // sw and not isinstance(bias, TensorRef):
            plan = self._sub_pixel(x, weight, bias, (sh, sw), (pt, pl), (oh, ow), groups, (mh, taps_h), (mw, taps_w))
            full = all(len(t) == mh + 1 for t in taps_h) and all(len(t) == mw + 1 for t in taps_w)
            return plan, full
        hd, wd = oh + dh * (kh - 1), ow + dw * (kw - 1)
        staged = TensorRef((n, c, hd, wd), np.float32)
        plan = conv.plan(staged, wt, bias, dilation=(dh, dw), groups=groups)
        chain = [plan] if isinstance(plan, Call) else list(plan)
        head = chain[0]
        uses = [i for i, v in enumerate(head.inputs) if isinstance(v, TensorRef) and v.buffer is staged.buffer]
        if len(uses) != 1:  # conv2d's plan changed shape: it must read the staged input once, first
            raise AssertionError(f"{self.name}: unexpected conv2d plan {chain!r}")
        seen = head.inputs[uses[0]].shape
        head = Call(head.kernel, list(head.inputs), head.out_shape, head.out_dtype, head.scalars, head.result_shape)
        head.inputs[uses[0]] = PREV
        if seen == (n, c, hd, wd):
            dilate = Call("f32_conv_transpose2d_dilate", [x], seen, np.float32, (sh, sw, top, left))
        else:  # conv2d's 1x1 kernel reads the input as (N, C, H * W)
            dilate = Call("f32_conv_transpose2d_dilate_flat", [x], seen, np.float32, (sh, sw, top, left, hd, wd))
        return [dilate, head, *chain[1:]], True

    def _sub_pixel(self, x, weight, bias, stride, pads, out_hw, groups, axis_h, axis_w) -> list[Call]:
        """One conv2d over x computing every phase (see the module docstring), then the shuffle."""
        (sh, sw), (pt, pl), (oh, ow) = stride, pads, out_hw
        n, _, h, w = x.shape
        og = weight.shape[1]
        conv_pads = []
        for (m, _), s, p, o, size in ((axis_h, sh, pt, oh, h), (axis_w, sw, pl, ow, w)):
            q0 = p // s
            q = (p + o - 1) // s - q0 + 1  # sub-pixel rows (columns) the output needs
            conv_pads.append((m - q0, max(0, q - size + q0)))  # conv output rows >= q (extra ones ignored)
        v = _phase_weight(weight, groups, axis_h[1], axis_w[1], axis_h[0] + 1, axis_w[0] + 1)
        b = np.zeros(og * groups, np.float32) if bias is None else bias
        b = np.ascontiguousarray(np.broadcast_to(b.reshape(groups, 1, 1, og), (groups, sh, sw, og)).reshape(-1))
        (top, bottom), (left, right) = conv_pads
        plan = _conv2d().plan(x, v, b, padding=(top, left, bottom, right), groups=groups)
        chain = [plan] if isinstance(plan, Call) else list(plan)
        z = chain[-1]
        out = (n, og * groups, oh, ow)
        scalars = (sh, sw, pt, pl, groups)
        if len(z.out_shape) == 4:
            shuffle = Call("f32_conv_transpose2d_shuffle", [PREV], out, np.float32, scalars)
        else:  # conv2d's 1x1 / im2col kernels write (N, K, QH * QW)
            qw = (z.result_shape or z.out_shape)[3]
            shuffle = Call("f32_conv_transpose2d_shuffle_flat", [PREV], out, np.float32, (*scalars, qw))
        return [*chain, shuffle]


def _conv2d() -> Op:
    from . import all_ops

    return all_ops()["conv2d"]


OPS = [ConvTranspose2d()]

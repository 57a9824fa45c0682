"""The search space of our own conv schedule: ops/_conv_static's Variant fields as tuning decisions.

MetaSchedule's generic CPU space lost to every hand conv schedule of ResNet-50 (0.19-0.98x): our packed
weights, register tiles and Winograd are not in it. Here the decisions are the ones the hand schedule fixed
once for all shapes: algorithm (grid / im2col / Winograd F(2,3) or F(4,3)), register tile (output channels
x pixel vectors), reduction order, channel blocking, tap unrolling, weights replicated over the lanes or
splatted by the load (4x fewer weight bytes from memory), the input copied tile by tile (1x1 and im2col:
each step reads adjacent pixels, not a row per channel). Each candidate is one conv with a
bias + ReLU epilogue, built as a one-kernel module, checked against a float64 numpy conv, and timed by the
tuning runner.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ...ops import _conv_static as cs

#: register tiles (output channels, v128 pixel vectors): accumulators + live inputs stay under the 16 XMM
#: registers, Cranelift needing one spare per FMA (it ties the destination to a multiplicand)
TILES = ((4, 2), (2, 4), (3, 3), (5, 2), (6, 2), (8, 1), (4, 1), (2, 2))


def config_key(config) -> str:
    """A conv configuration (x_shape, w_shape, stride, pads, dilation, groups) as a record key."""
    x_shape, w_shape, stride, pads, dilation, groups = config
    return "x{}_w{}_s{}_p{}_d{}_g{}".format(
        *("x".join(str(int(d)) for d in t) for t in (x_shape, w_shape, stride, pads, dilation)), int(groups)
    )


def _plain_width(x_shape, w_shape, stride, pads, dilation) -> int:
    _, _, _, kw = (int(d) for d in w_shape)
    _, pl, _, pr = (int(p) for p in pads)
    return (int(x_shape[3]) + pl + pr - int(dilation[1]) * (kw - 1) - 1) // int(stride[1]) + 1


def _divisors(n: int, options) -> list[int]:
    return [d for d in options if d < n and n % d == 0]


def candidates(config) -> list[cs.Variant]:
    """Every variant our compute and schedule take for this conv, the hand choice first."""
    x_shape, w_shape, stride, pads, dilation, groups = config
    hand = cs.choose(*config)
    if hand.kind == "plain":  # grouped / depthwise / dilated / anisotropic: scalar or v128 output rows
        ow = _plain_width(x_shape, w_shape, stride, pads, dilation)
        return [hand, *(cs.Variant(kind="plain", T=1, NV=nv) for nv in (1, 2, 3, 4) if ow % (4 * nv) == 0)]
    _, cg, kh, kw = (int(d) for d in w_shape)
    s = int(stride[0])
    out = [hand]

    def add(v: cs.Variant) -> None:
        if v not in out:
            out.append(v)

    if kh == kw == 3 and s == 1 and int(x_shape[0]) == 1 and cg >= 16:
        for m in (2, 4):
            for t, nv in TILES:
                if nv == 1:  # they build, but measured 6-15 ms where the other tiles took 4-9: not searched
                    continue
                add(cs.Variant(kind="winograd", T=t, NV=nv, m=m))
    if kh == kw == 1:
        for t, nv in TILES:
            for kc in [0, *_divisors(cg, (32, 64, 128, 256))]:
                for xtile in (False, True):
                    add(cs.Variant(kind="grid", T=t, NV=nv, kc=kc, xtile=xtile))
        return _with_splat(out)
    for t, nv in TILES:
        for kc in [0, *_divisors(cg * kh * kw, (64, 128, 256))]:
            for xtile in (False, True):
                add(cs.Variant(kind="im2col", T=t, NV=nv, kc=kc, xtile=xtile))
        for order in ("tapfirst", "cfirst"):
            for kc in [0, *_divisors(cg, (16, 32, 64))]:
                add(cs.Variant(kind="grid", T=t, NV=nv, order=order, kc=kc))
    return _with_splat(out)


def _with_splat(space: list[cs.Variant]) -> list[cs.Variant]:
    """Each variant also with the other weight layout: replicated weights cost 4x the bytes, which the
    7x7 layers' few pixel tiles do not repay (Winograd 3x3 512 at 7x7: 30 % faster splatted)."""
    seen = set(space)
    return space + [v for v in (dataclasses.replace(v, splat=not v.splat) for v in space) if v not in seen]


def variant_json(v: cs.Variant) -> dict:
    return dataclasses.asdict(v)


def variant_from_json(doc: dict) -> cs.Variant:
    """A Variant from a record; ValueError for unknown fields or kinds (a record from elsewhere)."""
    names = {f.name for f in dataclasses.fields(cs.Variant)}
    if not isinstance(doc, dict) or set(doc) - names or doc.get("kind") not in ("grid", "im2col", "winograd", "plain"):
        raise ValueError(f"not a conv variant: {doc!r}")
    v = cs.Variant(**doc)
    if not (1 <= v.T <= 16 and 0 <= v.NV <= 8 and v.kc >= 0 and v.m in (2, 4, 6)) or (v.NV == 0) != (v.kind == "plain"):
        raise ValueError(f"conv variant out of range: {doc!r}")
    return v


def conv_kernel(config, variant: cs.Variant):
    """One conv + bias + ReLU (the common fused epilogue) with `variant`, scheduled: PrimFunc(x, wp, bias, y)."""
    import tvm
    from tvm import te

    x_shape, w_shape, stride, pads, dilation, groups = config
    x = te.placeholder(tuple(int(d) for d in x_shape), "float32", name="x")
    wp = te.placeholder(tuple(int(d) for d in cs.packed_shape(w_shape, variant)), "float32", name="wp")
    bias = te.placeholder((int(w_shape[0]),), "float32", name="bias")

    def epilogue(val, b, o, yy, xx):
        return te.max(val + bias[o], tvm.tirx.const(0.0, "float32"))

    y = cs.conv_compute(
        x, wp, x_shape, w_shape, stride, pads, dilation, epilogue, groups, variant=variant, prefix="conv_"
    )
    sch = tvm.s_tir.Schedule(te.create_prim_func([x, wp, bias, y]))
    cs.schedule_conv(sch, "conv_y", x_shape, w_shape, stride, pads, dilation, groups, variant, prefix="conv_")
    return sch.mod["main"]


def sample(config, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded x, weight (OIHW), bias and the float64 reference relu(conv + bias): one per conv, shared by
    every variant (they differ only in how the weight is packed)."""
    x_shape, w_shape, stride, pads, dilation, groups = config
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    w = (rng.uniform(-1, 1, w_shape) / math.sqrt(math.prod(w_shape[1:]))).astype(np.float32)
    b = rng.uniform(-1, 1, w_shape[0]).astype(np.float32)
    want = np.maximum(reference(x, w, stride, pads, dilation, groups) + b[None, :, None, None], 0)
    return x, w, b, want


def inputs(config, variant: cs.Variant, data=None) -> tuple[list[np.ndarray], np.ndarray]:
    """(x, packed weight, bias, zero y) for `variant` and the reference output, from `sample(config)` (or
    `data`, a sample already made)."""
    x_shape, _, stride, pads, dilation, groups = config
    x, w, b, want = sample(config) if data is None else data
    packed = cs.pack_weight(w, x_shape, stride, pads, dilation, groups, variant)
    return [x, packed, b, np.zeros(want.shape, np.float32)], want


def reference(x: np.ndarray, w: np.ndarray, stride, pads, dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """float64 direct conv by taps (any groups, dilation, strides): the independent check of every candidate."""
    pt, pl, pb, pr = (int(p) for p in pads)
    (sh, sw), (dh, dw) = (int(d) for d in stride), (int(d) for d in dilation)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    k, cg, kh, kw = w.shape
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], k, oh, ow))
    kg = k // groups
    for r in range(kh):
        for q in range(kw):
            patch = xp[:, :, r * dh : r * dh + sh * (oh - 1) + 1 : sh, q * dw : q * dw + sw * (ow - 1) + 1 : sw]
            for gi in range(groups):
                tap = w[gi * kg : (gi + 1) * kg, :, r, q].astype(np.float64)
                out[:, gi * kg : (gi + 1) * kg] += np.einsum("nchw,kc->nkhw", patch[:, gi * cg : (gi + 1) * cg], tap)
    return out


def build(config, variant: cs.Variant, isa: str, out: Path) -> Path:
    """The candidate as a one-kernel module (the tuning builder's compile and link)."""
    from .builder import compile_kernel

    return compile_kernel(conv_kernel(config, variant), isa, out, fold_offsets=True)

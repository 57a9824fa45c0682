"""Weights at their own size: packed constants are rebuilt at load, inside wasm, from the source weights.

The legalisations hand Relax weights in the layouts the kernels read: conv weights in register-tile panels
with every scalar replicated over the four lanes (4x the bytes), Winograd-transformed 3x3 filters (16/9 of
that again), matmul weights in 16-column panels. Shipping those made a compiled ResNet-50 carry 486 MB for a
102 MB model. Instead each legalisation registers here how its packed constant is made from the source
weight, as a TE compute; `read_plan` then stores the source weight in the payload, places the packed
tensor in a zero-initialised region of the module, and adds a step to `wasmops_graph_init`, which the
loader runs once, after the weights are in memory. The kernels read the same bytes as before.

Build-time only (TVM). Knows nothing about the loader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tvm import te, tirx


@dataclass(frozen=True)
class Packing:
    """How one packed constant is made: `kernel` (shared by every weight of the same transform) reads
    `sources` (the source weight, constant matrices) and writes the packed tensor."""

    kernel: str
    sources: tuple[np.ndarray, ...]


def constant_key(arr: np.ndarray) -> tuple:
    """The identity of a constant's value (read_plan stores equal constants once by the same key)."""
    return hashlib.blake2b(arr.tobytes(), digest_size=16).digest(), tuple(arr.shape), arr.dtype.str


class Packings:
    """Packed constant -> its Packing, and the init kernels' builders by name."""

    def __init__(self) -> None:
        self._by_key: dict[tuple, Packing] = {}
        self._builders: dict[str, Callable[[], tirx.PrimFunc]] = {}

    def register(self, packed: np.ndarray, sources: tuple[np.ndarray, ...], name: str, build) -> None:
        self._by_key[constant_key(np.asarray(packed))] = Packing(name, sources)
        self._builders.setdefault(name, build)

    def get(self, key: tuple) -> Packing | None:
        return self._by_key.get(key)

    def func(self, name: str) -> tirx.PrimFunc:
        return self._builders[name]()


def _kernel_name(kind: str, *config) -> str:
    return f"wasmops_pack_{kind}_" + hashlib.sha1(repr(config).encode()).hexdigest()[:10]


def register_conv(packings: Packings, weight: np.ndarray, packed: np.ndarray, variant) -> None:
    """A conv weight (K, C, KH, KW) packed by ops/_conv_static.pack_weight for `variant`."""
    from ..ops import _conv_static as cs

    if variant.kind == "plain":  # stored as it is
        return
    w_shape, T = tuple(int(d) for d in weight.shape), variant.T
    k, cg, kh, kw = w_shape
    pshape = tuple(int(d) for d in cs.packed_shape(w_shape, variant))
    assert pshape == packed.shape, (pshape, packed.shape)
    zero = tirx.const(0.0, "float32")

    def channel(ko, t):
        o = ko * T + t
        return o < k, te.min(o, k - 1)  # clamped: a select may evaluate both sides

    if variant.kind == "winograd":
        alpha = variant.m + 2
        _, _, gm = cs._winograd_matrices(variant.m)
        name = _kernel_name("winograd", w_shape, pshape, variant.m)

        def build() -> tirx.PrimFunc:
            w = te.placeholder(w_shape, "float32", name="w")
            g = te.placeholder((alpha, 3), "float64", name="g")
            ra, rb = te.reduce_axis((0, 3), "ra"), te.reduce_axis((0, 3), "rb")

            def u(e, v, ko, c, t):
                ok, o = channel(ko, t)
                term = g[e, ra] * w[o, c, ra, rb].astype("float64") * g[v, rb]
                return te.sum(te.if_then_else(ok, term, tirx.const(0.0, "float64")), axis=[ra, rb])

            uu = te.compute(pshape[:-1], u, name="pack_u")
            out = te.compute(pshape, lambda *i: uu(*i[:-1]).astype("float32"), name="pack_out")
            return te.create_prim_func([w, g, out])

        packings.register(packed, (weight, np.ascontiguousarray(gm, np.float64)), name, build)
        return

    name = _kernel_name(f"conv_{variant.kind}_{variant.order}", w_shape, pshape)

    def build() -> tirx.PrimFunc:
        w = te.placeholder(w_shape, "float32", name="w")

        def pick(ko, a, b, c, t, lane):
            ok, o = channel(ko, t)
            if variant.kind == "im2col":  # a = c * KH * KW + r * KW + q (the taps folded into the channels)
                src = w[o, a // (kh * kw), a // kw % kh, a % kw]
            elif variant.order == "tapfirst":  # (ko, r, q, c, t)
                src = w[o, c, a, b]
            else:  # (ko, c, r, q, t)
                src = w[o, a, b, c]
            return te.if_then_else(ok, src, zero)

        out = te.compute(pshape, pick, name="pack_out")
        return te.create_prim_func([w, out])

    packings.register(packed, (weight,), name, build)


def register_matmul(packings: Packings, weight: np.ndarray, packed: np.ndarray, cols: int) -> None:
    """A matmul weight W (K, N) packed into (N / cols, K, cols) column panels (ops/dense.pack_columns of W^T)."""
    k, n = (int(d) for d in weight.shape)
    pshape = tuple(int(d) for d in packed.shape)
    name = _kernel_name("panels", (k, n), pshape)

    def build() -> tirx.PrimFunc:
        w = te.placeholder((k, n), "float32", name="w")

        def pick(p, r, j):
            col = p * cols + j
            return te.if_then_else(col < n, w[r, te.min(col, n - 1)], tirx.const(0.0, "float32"))

        out = te.compute(pshape, pick, name="pack_out")
        return te.create_prim_func([w, out])

    packings.register(packed, (weight,), name, build)


__all__ = ["Packing", "Packings", "constant_key", "register_conv", "register_matmul"]

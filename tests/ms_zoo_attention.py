"""Small ConvNeXt (v1, v2) and ViT for the zoo tests (see ms_zoo.py): channels-last LayerNorm through
ops.LayerNorm, GRN with ops.LpNorm, layer scale, attention with Unstack / BatchMatMul / Softmax."""

from __future__ import annotations

import numpy as np
from mindspore import Parameter, Tensor, nn, ops


class ConvNextLayerNorm(nn.LayerNorm):
    """mindcv's channels-first LayerNorm: a subclass of nn.LayerNorm calling its ops.LayerNorm."""

    def __init__(self, shape, epsilon: float, norm_axis: int = -1):
        super().__init__(shape, begin_norm_axis=-1, begin_params_axis=-1, epsilon=epsilon)
        self.norm_axis = norm_axis

    def construct(self, x):
        if self.norm_axis == -1:
            y, _, _ = self.layer_norm(x, self.gamma, self.beta)
        else:
            x = ops.transpose(x, (0, 2, 3, 1))
            y, _, _ = self.layer_norm(x, self.gamma, self.beta)
            y = ops.transpose(y, (0, 3, 1, 2))
        return y


class GRN(nn.Cell):
    """ConvNeXt v2's global response normalisation (channels last)."""

    def __init__(self, c: int):
        super().__init__()
        self.gamma = Parameter(Tensor(np.full((1, 1, 1, c), 0.5, np.float32)))
        self.beta = Parameter(Tensor(np.full((1, 1, 1, c), 0.1, np.float32)))
        self.norm = ops.LpNorm(axis=[1, 2], p=2, keep_dims=True)

    def construct(self, x):
        gx = self.norm(x)
        nx = gx / (ops.mean(gx, axis=-1, keep_dims=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNextBlock(nn.Cell):
    def __init__(self, c: int, v2: bool):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, group=c, has_bias=True)
        self.norm = ConvNextLayerNorm((c,), epsilon=1e-6)
        self.pwconv1 = nn.Dense(c, 4 * c)
        self.act = nn.GELU()
        self.grn = GRN(4 * c) if v2 else nn.Identity()
        self.pwconv2 = nn.Dense(4 * c, c)
        self.gamma = Parameter(Tensor(np.full((c,), 0.5, np.float32))) if not v2 else None
        self.drop_path = nn.Identity()

    def construct(self, x):
        shortcut = x
        x = self.dwconv(x)
        x = ops.transpose(x, (0, 2, 3, 1))
        x = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(x)))))
        if self.gamma is not None:
            x = self.gamma * x
        x = ops.transpose(x, (0, 3, 1, 2))
        return shortcut + self.drop_path(x)


class ConvNeXt(nn.Cell):
    def __init__(self, v2: bool = False):
        super().__init__()
        self.stem = nn.SequentialCell(
            [nn.Conv2d(3, 8, 4, 4, has_bias=True), ConvNextLayerNorm((8,), 1e-6, norm_axis=1)]
        )
        self.stages = nn.SequentialCell([ConvNextBlock(8, v2), ConvNextBlock(8, v2)])
        self.norm = nn.LayerNorm((8,), epsilon=1e-6)
        self.fc = nn.Dense(8, 10)

    def construct(self, x):
        x = self.stages(self.stem(x))
        return self.fc(self.norm(x.mean([-2, -1])))


class Attention(nn.Cell):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Dense(dim, dim * 3)
        self.proj = nn.Dense(dim, dim)
        self.softmax = nn.Softmax(axis=-1)
        self.unstack = ops.Unstack(axis=0)
        self.q_matmul_k = ops.BatchMatMul(transpose_b=True)
        self.attn_matmul_v = ops.BatchMatMul()

    def construct(self, x):
        b, n, c = x.shape
        qkv = ops.reshape(self.qkv(x), (b, n, 3, self.heads, c // self.heads))
        q, k, v = self.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)))
        attn = self.softmax(self.q_matmul_k(q, k) * self.scale)
        out = ops.transpose(self.attn_matmul_v(attn, v), (0, 2, 1, 3))
        return self.proj(ops.reshape(out, (b, n, c)))


class TransformerBlock(nn.Cell):
    def __init__(self, dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm((dim,), epsilon=1e-6)
        self.attn = Attention(dim, 2)
        self.norm2 = nn.LayerNorm((dim,), epsilon=1e-6)
        self.mlp = nn.SequentialCell([nn.Dense(dim, dim * 2), nn.GELU(approximate=False), nn.Dense(dim * 2, dim)])

    def construct(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Cell):
    def __init__(self, dim: int = 16):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 8, 8, has_bias=True)
        self.cls_token = Parameter(Tensor(np.full((1, 1, dim), 0.1, np.float32)))
        self.pos = Parameter(Tensor(np.linspace(-0.1, 0.1, 17 * dim, dtype=np.float32).reshape(1, 17, dim)))
        self.blocks = nn.CellList([TransformerBlock(dim), TransformerBlock(dim)])
        self.norm = nn.LayerNorm((dim,), epsilon=1e-6)
        self.fc = nn.Dense(dim, 10)

    def construct(self, x):
        x = self.patch(x)
        b, c, h, w = x.shape
        x = ops.transpose(ops.reshape(x, (b, c, h * w)), (0, 2, 1))
        cls = ops.broadcast_to(self.cls_token, (b, -1, -1))
        x = ops.concat((cls, x), axis=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.fc(self.norm(x)[:, 0])

"""Small versions of MindSpore model-zoo (mindcv) architectures: the same layer types and the same
construct-level code (residual `+=`, squeeze-excite gates, channel shuffles, concats, attention), a few
channels wide so that the tests stay quick."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from .ms_zoo_attention import ConvNeXt, ViT


def _cbr(cin: int, cout: int, k: int = 3, s: int = 1, g: int = 1, act=nn.ReLU) -> nn.SequentialCell:
    layers = [nn.Conv2d(cin, cout, k, s, pad_mode="pad", padding=k // 2, group=g), nn.BatchNorm2d(cout)]
    return nn.SequentialCell(layers + ([act()] if act else []))


class Head(nn.Cell):
    """Global average pool (as mindcv's GlobalAvgPooling: x.mean((2, 3))), dropout, classifier."""

    def __init__(self, c: int, classes: int = 10):
        super().__init__()
        self.drop = nn.Dropout(p=0.2)
        self.fc = nn.Dense(c, classes)

    def construct(self, x):
        return self.fc(self.drop(x.mean((2, 3))))


class BasicBlock(nn.Cell):
    def __init__(self, cin: int, cout: int, s: int):
        super().__init__()
        self.conv1 = _cbr(cin, cout, 3, s)
        self.conv2 = _cbr(cout, cout, 3, 1, act=None)
        self.down = _cbr(cin, cout, 1, s, act=None) if s != 1 or cin != cout else None
        self.relu = nn.ReLU()

    def construct(self, x):
        identity = x
        out = self.conv2(self.conv1(x))
        if self.down is not None:
            identity = self.down(x)
        out += identity  # in place, as in mindcv's ResNet
        return self.relu(out)


class ResNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.stem = nn.SequentialCell([_cbr(3, 8, 7, 2), nn.MaxPool2d(3, 2, pad_mode="same")])
        self.layers = nn.SequentialCell([BasicBlock(8, 8, 1), BasicBlock(8, 16, 2)])
        self.head = Head(16)

    def construct(self, x):
        return self.head(self.layers(self.stem(x)))


class InvertedResidual(nn.Cell):
    def __init__(self, cin: int, cout: int, s: int, expand: int, act=nn.ReLU6, se: bool = False):
        super().__init__()
        hid = cin * expand
        self.use_res = s == 1 and cin == cout
        layers = [_cbr(cin, hid, 1, act=act), _cbr(hid, hid, 3, s, g=hid, act=act)]
        if se:
            layers.append(SqueezeExcite(hid, gate=nn.HSigmoid))
        layers.append(_cbr(hid, cout, 1, act=None))
        self.conv = nn.SequentialCell(layers)

    def construct(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class SqueezeExcite(nn.Cell):
    def __init__(self, c: int, gate=nn.Sigmoid, act=nn.ReLU):
        super().__init__()
        self.reduce = nn.Conv2d(c, max(c // 4, 2), 1, has_bias=True)
        self.act = act()
        self.expand = nn.Conv2d(max(c // 4, 2), c, 1, has_bias=True)
        self.gate = gate()

    def construct(self, x):
        s = x.mean((2, 3), keep_dims=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class MobileNetV2(nn.Cell):
    def __init__(self):
        super().__init__()
        self.features = nn.SequentialCell(
            [_cbr(3, 8, 3, 2, act=nn.ReLU6), InvertedResidual(8, 8, 1, 2), InvertedResidual(8, 12, 2, 3)]
        )
        self.head = Head(12)

    def construct(self, x):
        return self.head(self.features(x))


class MobileNetV3(nn.Cell):
    def __init__(self):
        super().__init__()
        self.features = nn.SequentialCell(
            [_cbr(3, 8, 3, 2, act=nn.HSwish), InvertedResidual(8, 8, 1, 2, nn.HSwish, se=True),
             InvertedResidual(8, 12, 2, 2, nn.ReLU, se=True)]
        )  # fmt: skip
        self.head = Head(12)

    def construct(self, x):
        return self.head(self.features(x))


class MBConv(nn.Cell):
    """EfficientNet: expand, depthwise, SE (SiLU), project, dropout (drop path) and an in-place residual."""

    def __init__(self, c: int):
        super().__init__()
        self.expand = _cbr(c, c * 2, 1, act=nn.SiLU)
        self.dw = _cbr(c * 2, c * 2, 3, 1, g=c * 2, act=nn.SiLU)
        self.se = SqueezeExcite(c * 2, act=nn.SiLU)
        self.project = _cbr(c * 2, c, 1, act=None)
        self.dropout = nn.Dropout(p=0.2)

    def construct(self, x):
        out = self.project(self.se(self.dw(self.expand(x))))
        out = self.dropout(out)
        out += x
        return out


class EfficientNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.stem = _cbr(3, 8, 3, 2, act=nn.SiLU)
        self.blocks = nn.SequentialCell([MBConv(8), MBConv(8)])
        self.head = Head(8)

    def construct(self, x):
        return self.head(self.blocks(self.stem(x)))


class DenseLayer(nn.Cell):
    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, growth * 2, 1)
        self.norm2 = nn.BatchNorm2d(growth * 2)
        self.conv2 = nn.Conv2d(growth * 2, growth, 3, pad_mode="pad", padding=1)

    def construct(self, features):
        x = self.conv1(self.relu(self.norm1(features)))
        return self.conv2(self.relu(self.norm2(x)))


class DenseBlock(nn.Cell):
    """mindcv's _DenseBlock: the layers in an nn.CellList named cell_list, features concatenated."""

    def __init__(self, n: int, cin: int, growth: int):
        super().__init__()
        self.cell_list = nn.CellList([DenseLayer(cin + i * growth, growth) for i in range(n)])

    def construct(self, x):
        for layer in self.cell_list:
            x = ops.concat((x, layer(x)), 1)
        return x


class DenseNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.stem = nn.SequentialCell([_cbr(3, 8, 3, 2), nn.MaxPool2d(3, 2, pad_mode="same")])
        self.block = DenseBlock(2, 8, 4)
        self.trans = nn.SequentialCell([nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 1), nn.AvgPool2d(2, 2)])
        self.head = Head(8)

    def construct(self, x):
        return self.head(self.trans(self.block(self.stem(x))))


class ShuffleBlock(nn.Cell):
    def __init__(self, c: int):
        super().__init__()
        self.branch = nn.SequentialCell(
            [_cbr(c // 2, c // 2, 1), _cbr(c // 2, c // 2, 3, g=c // 2, act=None), _cbr(c // 2, c // 2, 1)]
        )

    def construct(self, x):
        b, c, h, w = x.shape
        x = ops.reshape(x, (b * c // 2, 2, h * w))  # mindcv's channel shuffle
        x = ops.transpose(x, (1, 0, 2))
        x = ops.reshape(x, (2, -1, c // 2, h, w))
        x_proj, x = x[0], x[1]
        return ops.concat((x_proj, self.branch(x)), axis=1)


class ShuffleNetV2(nn.Cell):
    def __init__(self):
        super().__init__()
        self.stem = nn.SequentialCell([_cbr(3, 8, 3, 2), nn.MaxPool2d(3, 2, pad_mode="same")])
        self.stage = nn.SequentialCell([ShuffleBlock(8), ShuffleBlock(8)])
        self.head = Head(8)

    def construct(self, x):
        return self.head(self.stage(self.stem(x)))


class GhostModule(nn.Cell):
    def __init__(self, cin: int, cout: int, relu: bool = True):
        super().__init__()
        self.cout = cout
        init = (cout + 1) // 2
        act = nn.ReLU if relu else None
        self.primary = _cbr(cin, init, 1, act=act)
        self.cheap = _cbr(init, init, 3, g=init, act=act)

    def construct(self, x):
        x1 = self.primary(x)
        out = ops.concat((x1, self.cheap(x1)), axis=1)
        return out[:, : self.cout, :, :]


class GhostNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.stem = _cbr(3, 8, 3, 2)
        self.ghost1 = GhostModule(8, 12)
        self.se = SqueezeExcite(12, gate=nn.HSigmoid)
        self.ghost2 = GhostModule(12, 8, relu=False)
        self.head = Head(8)

    def construct(self, x):
        x = self.stem(x)
        residual = x
        x = self.ghost2(self.se(self.ghost1(x)))
        x += residual
        return self.head(x)


class RegNet(nn.Cell):
    """RegNet X: grouped 3x3 bottlenecks with residual adds."""

    def __init__(self):
        super().__init__()
        self.stem = _cbr(3, 8, 3, 2)
        self.a = _cbr(8, 16, 1)
        self.b = _cbr(16, 16, 3, 2, g=4)
        self.c = _cbr(16, 16, 1, act=None)
        self.proj = _cbr(8, 16, 1, 2, act=None)
        self.relu = nn.ReLU()
        self.head = Head(16)

    def construct(self, x):
        x = self.stem(x)
        x = self.relu(self.c(self.b(self.a(x))) + self.proj(x))
        return self.head(x)


class Fire(nn.Cell):
    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1, has_bias=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1, has_bias=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, pad_mode="same", has_bias=True)
        self.relu = nn.ReLU()

    def construct(self, x):
        x = self.relu(self.squeeze(x))
        return ops.concat([self.relu(self.expand1x1(x)), self.relu(self.expand3x3(x))], axis=1)


class SqueezeNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.features = nn.SequentialCell(
            [nn.Conv2d(3, 8, 3, 2, pad_mode="valid", has_bias=True), nn.ReLU(), nn.MaxPool2d(3, 2),
             Fire(8, 4, 8), Fire(16, 4, 8)]
        )  # fmt: skip
        self.final_conv = nn.Conv2d(16, 10, 1, has_bias=True)
        self.dropout = nn.Dropout(p=0.5)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()

    def construct(self, x):
        x = self.relu(self.final_conv(self.dropout(self.features(x))))
        return self.flatten(ops.mean(x, (2, 3), keep_dims=True))


class Inception(nn.Cell):
    def __init__(self, cin: int):
        super().__init__()
        self.b1 = _cbr(cin, 4, 1)
        self.b2 = nn.SequentialCell([_cbr(cin, 4, 1), _cbr(4, 6, 3)])
        self.b3 = nn.SequentialCell([_cbr(cin, 2, 1), _cbr(2, 4, 3)])
        self.b4 = nn.SequentialCell([nn.MaxPool2d(3, 1, pad_mode="same"), _cbr(cin, 4, 1)])

    def construct(self, x):
        return ops.concat((self.b1(x), self.b2(x), self.b3(x), self.b4(x)), axis=1)


class GoogLeNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.stem = nn.SequentialCell([_cbr(3, 8, 7, 2), nn.MaxPool2d(3, 2, pad_mode="same")])
        self.inc = Inception(8)
        self.head = Head(18)

    def construct(self, x):
        return self.head(self.inc(self.stem(x)))


ZOO = {
    "resnet": ResNet,
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v3": MobileNetV3,
    "efficientnet": EfficientNet,
    "convnext": ConvNeXt,
    "convnext_v2": lambda: ConvNeXt(v2=True),
    "vit": ViT,
    "densenet": DenseNet,
    "shufflenet_v2": ShuffleNetV2,
    "ghostnet": GhostNet,
    "regnet": RegNet,
    "squeezenet": SqueezeNet,
    "googlenet": GoogLeNet,
}


def perturb_norms(net: nn.Cell, rng: np.random.Generator) -> None:
    """Batch-norm statistics and layer-norm affine parameters away from their defaults, so that outputs
    are O(1) rather than the ~1e-9 logits default initialisation can give, which any tolerance passes."""
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            n = cell.num_features
            cell.moving_mean.set_data(Tensor(rng.standard_normal(n).astype(np.float32) * 0.1))
            cell.moving_variance.set_data(Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
            cell.gamma.set_data(Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
            cell.beta.set_data(Tensor(rng.standard_normal(n).astype(np.float32) * 0.1))
        elif isinstance(cell, nn.LayerNorm):
            shape = cell.gamma.shape
            cell.gamma.set_data(Tensor((1 + 0.2 * rng.standard_normal(shape)).astype(np.float32)))
            cell.beta.set_data(Tensor((0.1 * rng.standard_normal(shape)).astype(np.float32)))


def build(name: str, seed: int = 0) -> nn.Cell:
    ms.set_seed(seed)
    net = ZOO[name]()
    perturb_norms(net, np.random.default_rng(seed))
    net.set_train(False)
    return net

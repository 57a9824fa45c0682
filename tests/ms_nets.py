"""MindSpore networks and helpers shared by the MindSpore tests (imported only after importorskip)."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

MODES = {"pynative": ms.PYNATIVE_MODE, "graph": ms.GRAPH_MODE}
COMBOS = [(m, b) for m in MODES for b in ("pyfunc", "aot")]


try:
    ms.set_device("CPU")  # only allowed before the first kernel runs
except RuntimeError:
    pass


def set_mode(mode: str) -> None:
    ms.set_context(mode=MODES[mode])


def numpy2_warmup() -> None:
    """MindSpore 2.10's PyNative parser imports numpy 1.x internals once; under numpy 2 the first op that
    converts a Python tuple fails with SystemError and every later one works. Take that failure here."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        ops.ReduceMean(keep_dims=True)(Tensor(np.ones((1, 1, 2, 2), np.float32)), (2, 3))
    except SystemError:
        pass


def f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


class LeNet5(nn.Cell):
    """The MindSpore model-zoo LeNet-5."""

    def __init__(self, num_class: int = 10, num_channel: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(num_channel, 6, 5, pad_mode="valid")
        self.conv2 = nn.Conv2d(6, 16, 5, pad_mode="valid")
        self.fc1 = nn.Dense(16 * 5 * 5, 120)
        self.fc2 = nn.Dense(120, 84)
        self.fc3 = nn.Dense(84, num_class)
        self.relu = nn.ReLU()
        self.max_pool2d = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()

    def construct(self, x):
        x = self.max_pool2d(self.relu(self.conv1(x)))
        x = self.max_pool2d(self.relu(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Cell):
    """ResNet basic block: conv-bn-relu, conv-bn, residual add (a primitive attribute), relu."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, pad_mode="pad", padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, pad_mode="same")
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.add = ops.Add()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.SequentialCell([nn.Conv2d(cin, cout, 1, stride, pad_mode="valid"), nn.BatchNorm2d(cout)])

    def construct(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.down is not None:
            identity = self.down(x)
        return self.relu(self.add(out, identity))


class ResNet18(nn.Cell):
    """ResNet-18 layout (stem, 4 stages of 2 basic blocks, global mean, dense) at a small width."""

    def __init__(self, width: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.SequentialCell(
            [nn.Conv2d(3, width, 7, 2, pad_mode="pad", padding=3), nn.BatchNorm2d(width), nn.ReLU(),
             nn.MaxPool2d(3, 2, pad_mode="same")]
        )  # fmt: skip
        layers, cin = [], width
        for i, cout in enumerate([width, width * 2, width * 4, width * 8]):
            for j in range(2):
                layers.append(BasicBlock(cin, cout, 2 if j == 0 and i > 0 else 1))
                cin = cout
        self.layers = nn.SequentialCell(layers)
        self.mean = ops.ReduceMean(keep_dims=True)
        self.flatten = nn.Flatten()
        self.fc = nn.Dense(cin, classes)

    def construct(self, x):
        x = self.layers(self.stem(x))
        x = self.mean(x, (2, 3))
        return self.fc(self.flatten(x))


def randomize_batchnorm(net: nn.Cell, rng: np.random.Generator) -> None:
    """Non-trivial running statistics and affine parameters, so inference BN is really tested."""
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            n = cell.num_features
            cell.moving_mean.set_data(Tensor(f32(rng, n) * 0.1))
            cell.moving_variance.set_data(Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
            cell.gamma.set_data(Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
            cell.beta.set_data(Tensor(f32(rng, n) * 0.1))


class MLP(nn.Cell):
    def __init__(self, n_in: int = 16, hidden: int = 32, classes: int = 4):
        super().__init__()
        self.fc1 = nn.Dense(n_in, hidden, activation="relu")
        self.fc2 = nn.Dense(hidden, hidden)
        self.act = nn.Tanh()
        self.fc3 = nn.Dense(hidden, classes)

    def construct(self, x):
        return self.fc3(self.act(self.fc2(self.fc1(x))))


def train_mlp(steps: int = 20, seed: int = 0) -> tuple[MLP, np.ndarray]:
    """A small MLP trained for a few steps (PyNative) on generated, learnable data."""
    ms.set_seed(seed)
    rng = np.random.default_rng(seed)
    x = f32(rng, 64, 16)
    labels = (x[:, :4].argmax(axis=1)).astype(np.int32)
    net = MLP()
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss), nn.Momentum(net.trainable_params(), 0.1, 0.9))
    step.set_train(True)
    before = net.fc1.weight.asnumpy().copy()
    for _ in range(steps):
        step(Tensor(x), Tensor(labels))
    net.set_train(False)
    assert not np.array_equal(before, net.fc1.weight.asnumpy()), "training did not change the weights"
    return net, x

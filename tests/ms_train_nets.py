"""Training on scikit-learn's digits: LeNet-5, a small ResNet with BatchNorm, and one training loop.

Shared by tests/test_mindspore_training.py (a short run), benchmarks/train_digits.py (the long run and
its loss-curve plot) and benchmarks/test_training_bench.py (step times). The digits (1,797 8x8 images
that ship inside scikit-learn) are scaled to [0, 1] and upsampled to 16x16; the split and the batch
order are seeded, so MindSpore and wasm see the same batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn


@dataclass
class Digits:
    x_train: np.ndarray  # (N, 1, 16, 16) float32
    y_train: np.ndarray  # (N,) int32
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_16(test_share: float = 0.2, seed: int = 0) -> Digits:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = np.kron(data.images / 16.0, np.ones((2, 2))).astype(np.float32)[:, None]
    y = data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * (1 - test_share))
    train, test = order[:cut], order[cut:]
    return Digits(x[train], y[train], x[test], y[test])


def batches(d: Digits, batch: int, epochs: int, seed: int = 0):
    """(x, y) batches, reshuffled each epoch; the last partial batch is dropped (one shape, one program)."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(d.y_train))
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i : i + batch]
            yield d.x_train[idx], d.y_train[idx]


class LeNet5(nn.Cell):
    """LeNet-5 for 16x16 inputs: two conv / ReLU / max-pool stages, three dense layers."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.SequentialCell(
            [
                nn.Conv2d(1, 6, 5, pad_mode="pad", padding=2, has_bias=True),
                nn.ReLU(),
                nn.MaxPool2d(2, 2),
                nn.Conv2d(6, 16, 5, pad_mode="valid", has_bias=True),
                nn.ReLU(),
                nn.MaxPool2d(2, 2),
                nn.Flatten(),
            ]
        )
        self.classifier = nn.SequentialCell(
            [nn.Dense(64, 120), nn.ReLU(), nn.Dense(120, 84), nn.ReLU(), nn.Dense(84, classes)]
        )

    def construct(self, x):
        return self.classifier(self.features(x))


class Block(nn.Cell):
    """A ResNet basic block: conv-BN-ReLU-conv-BN plus the (projected) input, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.SequentialCell(
            [
                nn.Conv2d(cin, cout, 3, stride, pad_mode="pad", padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, pad_mode="pad", padding=1),
                nn.BatchNorm2d(cout),
            ]
        )
        self.project = stride != 1 or cin != cout
        if self.project:
            self.shortcut = nn.SequentialCell([nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)])
        self.relu = nn.ReLU()

    def construct(self, x):
        identity = self.shortcut(x) if self.project else x
        return self.relu(self.body(x) + identity)


class SmallResNet(nn.Cell):
    """Stem, two basic blocks (the second halves the size and widens), global average pool, dense."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.SequentialCell([nn.Conv2d(1, 16, 3, pad_mode="pad", padding=1), nn.BatchNorm2d(16), nn.ReLU()])
        self.blocks = nn.SequentialCell([Block(16, 16, 1), Block(16, 32, 2)])
        self.head = nn.SequentialCell([nn.AvgPool2d(8, 8), nn.Flatten(), nn.Dense(32, classes)])

    def construct(self, x):
        return self.head(self.blocks(self.stem(x)))


NETS = {"lenet5": LeNet5, "resnet": SmallResNet}


def twin(kind: str, seed: int = 0) -> tuple[nn.Cell, nn.Cell]:
    """Two copies of a network with the same initial weights: one for MindSpore, one for wasm."""
    ms.set_seed(seed)
    a = NETS[kind]()
    b = NETS[kind]()
    for p, q in zip(a.get_parameters(), b.get_parameters(), strict=True):
        q.set_data(Tensor(p.asnumpy().copy()))
    return a, b


class Trainer:
    """Forward, backward and an optimiser step per batch, with MindSpore's value_and_grad (the loss, too, on
    wasm for a network from to_wasm)."""

    def __init__(self, net: nn.Cell, optimizer: str = "momentum", lr: float = 0.05):
        from wasmops.mindspore import WasmNetwork, to_wasm

        self.net = net
        self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        if isinstance(net, WasmNetwork):  # a wasm network gets the loss on wasm too, on its backend
            self.loss = to_wasm(self.loss, backend=net.wasm_report.backend, train=True)
        params = net.trainable_params()
        if optimizer == "momentum":
            self.opt = nn.Momentum(params, lr, 0.9)
        elif optimizer == "adam":
            self.opt = nn.Adam(params, lr)
        else:
            raise ValueError(f"optimizer must be 'momentum' or 'adam', got {optimizer!r}")

        def forward(x, y):
            return self.loss(self.net(x), y)

        self.grad = ms.value_and_grad(forward, None, self.opt.parameters)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        self.net.set_train(True)
        value, grads = self.grad(Tensor(x), Tensor(y))
        self.opt(grads)
        return float(value.asnumpy())

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        self.net.set_train(False)
        pred = self.net(Tensor(x)).asnumpy().argmax(axis=1)
        return float((pred == y).mean()), pred

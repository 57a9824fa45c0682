"""The layer shapes `wasmops tune --ops` times the op library's tunable kernels on.

Every dense / matmul / conv2d case of the op benchmarks (benchmarks/test_ops_bench.py; a test checks they are
all here), and layers of the `make bench` models that fall in the other shape classes (ops/_tile_sizes.py):
few rows (a few tokens), narrow outputs (a 28-wide feature map, a classifier head). Only shapes, so the list
costs nothing to import; `arrays` makes seeded data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Workload:
    """One op call: `op` on float32 arrays of `shapes` with `attrs` (conv weights and dense weights are constant
    in a graph, so the tuner also times each with the weight packed on the host)."""

    label: str
    op: str
    shapes: tuple[tuple[int, ...], ...]
    attrs: dict = field(default_factory=dict)

    def arrays(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [rng.uniform(-1, 1, s).astype(np.float32) for s in self.shapes]


def _dense(label: str, m: int, k: int, n: int) -> Workload:
    return Workload(label, "dense", ((m, k), (n, k), (n,)))


def _conv(label: str, x: tuple[int, int, int, int], k: int, ksize: int, stride: int = 1, padding: int = 0) -> Workload:
    return Workload(label, "conv2d", (x, (k, x[1], ksize, ksize), (k,)), {"stride": stride, "padding": padding})


WORKLOADS = (
    # benchmarks/test_ops_bench.py
    _dense("dense 512x512x512", 512, 512, 512),
    _dense("dense BERT 128x768x3072", 128, 768, 3072),
    _dense("dense BERT 128x768->768", 128, 768, 768),
    _dense("dense BERT 128x3072->768", 128, 3072, 768),
    Workload("matmul BERT scores 12x128x64x128", "matmul", ((12, 128, 64), (12, 64, 128))),
    _conv("conv2d 1x64x56x56 3x3->64", (1, 64, 56, 56), 64, 3, padding=1),
    _conv("conv2d 1x256x56x56 1x1->64", (1, 256, 56, 56), 64, 1),
    _conv("conv2d 1x128x28x28 3x3/2->128", (1, 128, 28, 28), 128, 3, stride=2, padding=1),
    _conv("conv2d MobileNetV2 expand 1x24x56x56 1x1->144", (1, 24, 56, 56), 144, 1),
    _conv("conv2d MobileNetV2 project 1x144x56x56 1x1->24", (1, 144, 56, 56), 24, 1),
    # the other shape classes, from the make-bench models
    _dense("dense 4 tokens 4x768->768", 4, 768, 768),
    Workload("matmul 4 tokens 4x768x768", "matmul", ((4, 768), (768, 768))),
    Workload("matmul BERT context 12x128x128x64", "matmul", ((12, 128, 128), (12, 128, 64))),
    _dense("dense classifier 64x512->10", 64, 512, 10),
    _conv("conv2d ResNet-50 1x128x28x28 3x3->128", (1, 128, 28, 28), 128, 3, padding=1),
    _conv("conv2d ResNet-50 1x128x56x56 3x3/2->128", (1, 128, 56, 56), 128, 3, stride=2, padding=1),
    _conv("conv2d ResNet-50 1x512x7x7 3x3->512", (1, 512, 7, 7), 512, 3, padding=1),
    _conv("conv2d 1x1 on 4x4 1x256x4x4->256", (1, 256, 4, 4), 256, 1),
)

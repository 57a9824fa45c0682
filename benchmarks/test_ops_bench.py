"""Per-op benchmarks on real layer shapes: wasm kernels vs numpy vs the same kernels compiled natively by TVM.

One thread everywhere (numpy's BLAS is limited to one thread in conftest.py). Each case records
its FLOP count, so the report can give GFLOP/s.
"""

from __future__ import annotations

import numpy as np
import pytest

from .engines import ENGINES

rng = np.random.default_rng(0)


def _f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# (case id, op, args, attrs, flops)
CASES = [
    ("dense 512x512x512", "dense", (_f32(512, 512), _f32(512, 512), _f32(512)), {}, 2 * 512**3),
    ("dense BERT 128x768x3072", "dense", (_f32(128, 768), _f32(3072, 768), _f32(3072)), {}, 2 * 128 * 768 * 3072),
    ("matmul BERT scores 12x128x64x128", "matmul", (_f32(12, 128, 64), _f32(12, 64, 128)), {}, 2 * 12 * 128 * 64 * 128),
    (
        "conv2d 1x64x56x56 3x3->64",
        "conv2d",
        (_f32(1, 64, 56, 56), _f32(64, 64, 3, 3), _f32(64)),
        {"padding": 1},
        2 * 64 * 56 * 56 * 64 * 9,
    ),
    (
        "conv2d 1x256x56x56 1x1->64",
        "conv2d",
        (_f32(1, 256, 56, 56), _f32(64, 256, 1, 1), _f32(64)),
        {},
        2 * 64 * 56 * 56 * 256,
    ),
    (
        "conv2d 1x128x28x28 3x3/2->128",
        "conv2d",
        (_f32(1, 128, 28, 28), _f32(128, 128, 3, 3), _f32(128)),
        {"padding": 1, "stride": 2},
        2 * 128 * 14 * 14 * 128 * 9,
    ),
    ("relu 8 floats (call overhead)", "relu", (_f32(8),), {}, 8),
    ("relu 1x64x112x112", "relu", (_f32(1, 64, 112, 112),), {}, 64 * 112 * 112),
]


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op(benchmark, case, engine):
    name, op, args, attrs, flops = case
    run = ENGINES[engine](op, *args, **attrs)
    benchmark.group = name
    benchmark.extra_info.update(op=op, engine=engine, flops=flops, case=name)
    result = benchmark(run)
    assert np.all(np.isfinite(result))

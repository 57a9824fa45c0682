"""`make demo`: a LeNet-5-shaped CNN forward pass, op by op on the wasm kernels, checked against numpy.

Every layer runs through the public numpy API (`wasmops.conv2d`, ...). The same network runs again on the
ops' numpy references, the outputs are compared, and a per-op timing table shows wasm against numpy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import wasmops
from wasmops.ops import all_ops

RTOL, ATOL = 1e-4, 1e-5


def lenet_params(seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised LeNet-5 weights (fixed seed): 1x32x32 in, 10 classes out."""
    rng = np.random.default_rng(seed)

    def he(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {
        "c1.w": he(6, 1, 5, 5),
        "c1.b": np.full(6, 0.01, np.float32),
        "c3.w": he(16, 6, 5, 5),
        "c3.b": np.full(16, 0.01, np.float32),
        "f5.w": he(120, 400),
        "f5.b": np.zeros(120, np.float32),
        "f6.w": he(84, 120),
        "f6.b": np.zeros(84, np.float32),
        "f7.w": he(10, 84),
        "f7.b": np.zeros(10, np.float32),
    }


def lenet_layers(p: dict[str, np.ndarray]) -> list[tuple[str, str, dict]]:
    """(label, op name, attributes) in order; weights are bound as extra positional inputs."""
    return [
        ("conv1 5x5 1->6", "conv2d", {"weight": p["c1.w"], "bias": p["c1.b"]}),
        ("relu1", "relu", {}),
        ("pool1 2x2", "max_pool2d", {"kernel_size": 2}),
        ("conv3 5x5 6->16", "conv2d", {"weight": p["c3.w"], "bias": p["c3.b"]}),
        ("relu3", "relu", {}),
        ("pool3 2x2", "max_pool2d", {"kernel_size": 2}),
        ("flatten", "flatten", {}),
        ("fc5 400->120", "dense", {"weight": p["f5.w"], "bias": p["f5.b"]}),
        ("relu5", "relu", {}),
        ("fc6 120->84", "dense", {"weight": p["f6.w"], "bias": p["f6.b"]}),
        ("relu6", "relu", {}),
        ("fc7 84->10", "dense", {"weight": p["f7.w"], "bias": p["f7.b"]}),
        ("softmax", "softmax", {}),
    ]


def _timed(fn: Callable[[], np.ndarray], repeat: int) -> tuple[np.ndarray, float]:
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main(batch: int = 4, repeat: int = 20) -> int:
    x = np.random.default_rng(1).standard_normal((batch, 1, 32, 32)).astype(np.float32)
    ops = all_ops()
    rows = []
    act_wasm, act_ref = x, x
    for label, name, attrs in lenet_layers(lenet_params()):
        op_fn, ref_fn = getattr(wasmops, name), ops[name].reference
        act_wasm, t_wasm = _timed(lambda f=op_fn, a=act_wasm, kw=attrs: f(a, **kw), repeat)
        act_ref, t_ref = _timed(lambda f=ref_fn, a=act_ref, kw=attrs: f(a, **kw), repeat)
        rows.append((label, act_wasm.shape, t_wasm, t_ref, float(np.max(np.abs(act_wasm - act_ref)))))
    print(
        f"LeNet-5 forward, batch {batch}, op by op on {wasmops.Runtime.__module__.split('.')[0]} wasm kernels "
        f"(library: {wasmops.kernels.default_runtime().path.name})\n"
    )
    print(f"{'layer':18s} {'output shape':>16s} {'wasm us':>10s} {'numpy us':>10s} {'max |diff|':>11s}")
    for label, shape, t_wasm, t_ref, diff in rows:
        print(f"{label:18s} {str(shape):>16s} {t_wasm * 1e6:10.1f} {t_ref * 1e6:10.1f} {diff:11.2e}")
    total_wasm, total_ref = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"{'total':18s} {'':>16s} {total_wasm * 1e6:10.1f} {total_ref * 1e6:10.1f}")
    ok = np.allclose(act_wasm, act_ref, rtol=RTOL, atol=ATOL)
    print(f"\nclass probabilities (first image): {[round(float(p), 4) for p in act_wasm[0]]}")
    print(
        f"wasm output {'matches' if ok else 'DOES NOT match'} numpy (rtol {RTOL}, atol {ATOL}); "
        f"predicted classes {act_wasm.argmax(axis=1).tolist()}"
    )
    return 0 if ok else 1

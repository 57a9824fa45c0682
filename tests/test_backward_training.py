"""The training ops composed: a small conv net (conv -> batch norm -> relu -> max pool -> dense -> softmax
cross-entropy) trained with SGD + momentum on a synthetic 4-class image task, its forward, backward and
update all on wasm kernels. The same steps run on the ops' numpy references (float64 inside each op): the
loss curves must agree (rtol 1e-4 over 30 steps; 5e-7 seen) and the loss must fall, so the ops' conventions fit each
other (shapes, saved statistics, per-sample gradients). MindSpore training itself is issue 17's part B."""

from __future__ import annotations

import numpy as np

import wasmops
from wasmops.ops import all_ops

CLASSES, BATCH, STEPS = 4, 16, 30


def _data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """8x8 images: a horizontal or vertical bar in the top / left or bottom / right half, plus noise."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, n).astype(np.int32)
    x = rng.normal(0, 1.0, (n, 1, 8, 8))
    for i, c in enumerate(labels):
        pos = 1 + 4 * (c % 2) + rng.integers(0, 2)
        if c < 2:
            x[i, 0, pos, :] += 1.0
        else:
            x[i, 0, :, pos] += 1.0
    return x.astype(np.float32), labels


def _params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "conv_w": (rng.standard_normal((8, 1, 3, 3)) * 0.3).astype(np.float32),
        "conv_b": np.zeros(8, np.float32),
        "gamma": np.ones(8, np.float32),
        "beta": np.zeros(8, np.float32),
        "fc_w": (rng.standard_normal((CLASSES, 128)) * 0.1).astype(np.float32),
        "fc_b": np.zeros(CLASSES, np.float32),
    }


def _train(run) -> list[float]:
    """SGD with momentum; `run(name, *args, **attrs)` is a wasm op or its reference."""
    x_all, y_all = _data()
    p = _params()
    velocity = {k: np.zeros_like(v) for k, v in p.items()}
    running = [np.zeros(8, np.float32), np.ones(8, np.float32)]
    losses = []
    for step in range(STEPS):
        at = (step * BATCH) % len(x_all)
        x, labels = x_all[at : at + BATCH], y_all[at : at + BATCH]
        conv = run("conv2d", x, p["conv_w"], p["conv_b"], 1, 1)
        bn, mean, invstd, *running = run("batch_norm_train", conv, p["gamma"], p["beta"], *running, 0.9, 1e-5)
        act = run("relu", bn)
        pooled = run("max_pool2d", act, 2, 2)
        flat = pooled.reshape(BATCH, -1)
        logits = run("dense", flat, p["fc_w"], p["fc_b"])
        loss, dlogits = run("softmax_cross_entropy", logits, labels)
        losses.append(float(loss.mean()))
        dlogits = (dlogits / BATCH).astype(np.float32)  # the mean loss
        grads = {
            "fc_w": run("dense_backward_weight", dlogits, flat),
            "fc_b": run("bias_grad", dlogits, -1),
        }
        dpooled = run("dense_backward_data", dlogits, p["fc_w"]).reshape(pooled.shape)
        dact = run("max_pool2d_backward", act, dpooled, 2, 2)
        dbn = run("relu_grad", bn, dact)
        dconv, grads["gamma"], grads["beta"] = run("batch_norm_backward", conv, dbn, p["gamma"], mean, invstd)
        grads["conv_w"] = run("conv2d_backward_weight", x, dconv, p["conv_w"].shape, 1, 1)
        grads["conv_b"] = run("bias_grad", dconv, 1)
        for k in p:
            p[k], velocity[k] = run("sgd_update", p[k], grads[k], 0.02, momentum=0.9, velocity=velocity[k])
    return losses


def test_a_conv_net_trains_on_wasm_kernels_like_on_the_references():
    wasm = _train(lambda name, *a, **kw: getattr(wasmops, name)(*a, **kw))
    ref = _train(lambda name, *a, **kw: all_ops()[name].reference(*a, **kw))
    np.testing.assert_allclose(wasm, ref, rtol=1e-4)
    assert np.mean(wasm[-5:]) < 0.3 * np.mean(wasm[:5]), f"the loss did not fall: {wasm}"

"""Gradient checks of the backward kernels (issue 17) against central finite differences of the forward.

Each check takes a float64 numpy forward f (written here, independent of the ops' references), a random
upstream gradient dy and the loss L = sum(f(x) * dy); the kernel's dx (run in float32 through the numpy
API) must match dL/dx by central differences (step 1e-6 in float64) at every element of small inputs,
to rtol 1e-3 / atol 1e-4 (float32 kernels against a float64 derivative). The kernels' agreement with their
numpy references is in tests/test_ops.py (tests/cases/backward.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import wasmops

RTOL, ATOL, STEP = 1e-3, 1e-4, 1e-6


def numeric_grad(f, x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """d sum(f(x) * dy) / dx by central differences, every element, float64."""
    x = x.astype(np.float64)
    dy = np.asarray(dy, np.float64)
    grad = np.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + STEP
        up = np.sum(f(x) * dy)
        flat[i] = keep - STEP
        down = np.sum(f(x) * dy)
        flat[i] = keep
        out[i] = (up - down) / (2 * STEP)
    return grad


def rng_arrays(*shapes, seed=0, away_from_zero=False):
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        a = rng.standard_normal(shape)
        if away_from_zero:  # kinks (relu at 0, max ties) are not differentiable: keep clear of them
            a = np.where(np.abs(a) < 0.05, 0.05 * np.sign(a) + 0.05 * (a == 0), a)
        out.append(a.astype(np.float32))
    return out


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


_erf = np.vectorize(math.erf)

ACTIVATIONS = {
    "relu_grad": (lambda x: np.maximum(x, 0), False),
    "gelu_grad": (lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), False),
    "gelu_tanh_grad": (lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))), False),
    "silu_grad": (lambda x: x * _sigmoid(x), False),
    "sigmoid_grad": (_sigmoid, True),  # the kernel takes the forward's output y
    "tanh_grad": (np.tanh, True),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_grad_matches_finite_differences(name):
    f, from_y = ACTIVATIONS[name]
    x, dy = rng_arrays((3, 19), (3, 19), away_from_zero=True)
    a = f(x.astype(np.float64)).astype(np.float32) if from_y else x
    close(getattr(wasmops, name)(a, dy), numeric_grad(f, x, dy))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shape,axis", [((3, 21), -1), ((2, 5, 6), 1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_grad_matches_finite_differences(shape, axis, log):
    x, dy = rng_arrays(shape, shape, seed=1)

    def f(v):
        return np.log(_softmax(v, axis)) if log else _softmax(v, axis)

    y = f(x.astype(np.float64)).astype(np.float32)
    got = (wasmops.log_softmax_grad if log else wasmops.softmax_grad)(y, dy, axis=axis)
    close(got, numeric_grad(f, x, dy))


@pytest.mark.parametrize("sparse", [True, False])
def test_softmax_cross_entropy_gradient(sparse):
    (logits,) = rng_arrays((6, 11), seed=2)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 11, 6).astype(np.int32)
    labels = idx if sparse else _softmax(rng.standard_normal((6, 11)), 1).astype(np.float32)
    dense = np.eye(11)[idx] if sparse else labels.astype(np.float64)
    weights = rng.standard_normal(6)  # L = sum(loss * weights): dL/dlogits = dlogits * weights

    def f(v):
        return -(dense * np.log(_softmax(v, 1))).sum(axis=1)

    loss, dlogits = wasmops.softmax_cross_entropy(logits, labels)
    close(loss, f(logits.astype(np.float64)))
    close(dlogits * weights[:, None], numeric_grad(f, logits, weights))


def test_softmax_cross_entropy_refuses_out_of_range_label():
    with pytest.raises(IndexError, match="softmax_cross_entropy: label 10"):
        wasmops.softmax_cross_entropy(np.zeros((2, 10), np.float32), np.array([1, 10], np.int32))


def test_dense_gradients_match_finite_differences():
    x, w, b, dy = rng_arrays((2, 3, 7), (5, 7), (5,), (2, 3, 5), seed=4)
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    close(wasmops.dense_backward_data(dy, w), numeric_grad(lambda v: v @ w64.T + b64, x, dy))
    close(wasmops.dense_backward_weight(dy, x), numeric_grad(lambda v: x64 @ v.T + b64, w, dy))
    close(wasmops.bias_grad(dy, axis=-1), numeric_grad(lambda v: x64 @ w64.T + v, b, dy))


def test_sgd_and_adam_descend_a_quadratic():
    """Many steps of each update on L = |w - t|² / 2 (gradient w - t) reach t: the state carries over."""
    (t,) = rng_arrays((40,), seed=5)
    w, v = np.zeros(40, np.float32), None
    for _ in range(200):
        w, v = wasmops.sgd_update(w, w - t, 0.1, momentum=0.9, velocity=v)
    np.testing.assert_allclose(w, t, atol=1e-4)
    w, m, s = np.zeros(40, np.float32), np.zeros(40, np.float32), np.zeros(40, np.float32)
    for step in range(1, 1001):
        w, m, s = wasmops.adam_update(w, w - t, m, s, 0.05, step=step)
    np.testing.assert_allclose(w, t, atol=1e-3)


def test_update_errors_name_the_op():
    w = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="sgd_update: velocity has shape"):
        wasmops.sgd_update(w, w, 0.1, momentum=0.9, velocity=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="sgd_update: nesterov needs momentum"):
        wasmops.sgd_update(w, w, 0.1, nesterov=True)
    with pytest.raises(ValueError, match="adam_update: step must be"):
        wasmops.adam_update(w, w, w, w, 0.1, step=0)


def _conv(x, w, s, p, d, g):
    """conv2d in float64 (the op's reference casts to float32, too coarse for differences of 1e-6)."""
    sh, sw = s
    dh, dw = d
    pt, pl, pb, pr = p
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    k, cg, kh, kw = w.shape
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], k, oh, ow))
    kg = k // g
    for gi in range(g):
        for r in range(kh):
            for c in range(kw):
                patch = xp[:, gi * cg : (gi + 1) * cg, r * dh : r * dh + sh * (oh - 1) + 1 : sh,
                           c * dw : c * dw + sw * (ow - 1) + 1 : sw]  # fmt: skip
                out[:, gi * kg : (gi + 1) * kg] += np.einsum(
                    "nchw,kc->nkhw", patch, w[gi * kg : (gi + 1) * kg, :, r, c]
                )
    return out


@pytest.mark.parametrize(
    "xs,ws,s,p,d,g",
    [
        ((2, 3, 6, 7), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
        ((1, 4, 7, 6), (6, 2, 3, 2), (2, 1), (0, 1, 1, 0), (1, 2), 2),
        ((1, 3, 7, 7), (6, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 3),  # depthwise, multiplier 2
    ],
    ids=["3x3", "grouped-strided-dilated", "depthwise"],
)
def test_conv2d_gradients_match_finite_differences(xs, ws, s, p, d, g):
    x, w = rng_arrays(xs, ws, seed=6)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    (dy,) = rng_arrays(_conv(x64, w64, s, p, d, g).shape, seed=7)
    geo = {"strides": s, "pads": p, "dilations": d, "groups": g}
    close(wasmops.conv2d_backward_data(dy, w, x.shape, **geo), numeric_grad(lambda v: _conv(v, w64, s, p, d, g), x, dy))
    close(
        wasmops.conv2d_backward_weight(x, dy, w.shape, **geo), numeric_grad(lambda v: _conv(x64, v, s, p, d, g), w, dy)
    )


def _pool(x, k, s, p, kind):
    """max / average pooling in float64 over padded windows (k x k, stride s, pad p on every side;
    the average counts the padding, count_include_pad=True)."""
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf if kind == "max" else 0.0)
    oh, ow = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    taps = [xp[:, :, r : r + s * (oh - 1) + 1 : s, c : c + s * (ow - 1) + 1 : s] for r in range(k) for c in range(k)]
    stacked = np.stack(taps)
    return stacked.max(axis=0) if kind == "max" else stacked.mean(axis=0)


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pool_gradients_match_finite_differences(k, s, p):
    # distinct values, so no window has a tie (a max is not differentiable there)
    x = np.random.default_rng(8).permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7).astype(np.float32) / 10
    (dy,) = rng_arrays(_pool(x.astype(np.float64), k, s, p, "max").shape, seed=9)
    close(wasmops.max_pool2d_backward(x, dy, k, s, p), numeric_grad(lambda v: _pool(v, k, s, p, "max"), x, dy))
    close(wasmops.avg_pool2d_backward(dy, x.shape, k, s, p), numeric_grad(lambda v: _pool(v, k, s, p, "avg"), x, dy))


def _batch_norm(x, gamma, beta, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 4, 5)])
def test_batch_norm_backward_matches_finite_differences(shape):
    x, gamma, beta, dy = rng_arrays(shape, (shape[1],), (shape[1],), shape, seed=10)
    x64, g64, b64 = (a.astype(np.float64) for a in (x, gamma, beta))
    y, mean, inv, _, _ = wasmops.batch_norm_train(
        x, gamma, beta, np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32)
    )
    close(y, _batch_norm(x64, g64, b64))
    dx, dgamma, dbeta = wasmops.batch_norm_backward(x, dy, gamma, mean, inv)
    close(dx, numeric_grad(lambda v: _batch_norm(v, g64, b64), x, dy))
    close(dgamma, numeric_grad(lambda v: _batch_norm(x64, v, b64), gamma, dy))
    close(dbeta, numeric_grad(lambda v: _batch_norm(x64, g64, v), beta, dy))


def _layer_norm(x, gamma, beta, axis, eps=1e-5):
    axes = tuple(range(axis, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@pytest.mark.parametrize("shape,axis", [((4, 9), 1), ((2, 3, 4), 1)])
def test_layer_norm_backward_matches_finite_differences(shape, axis):
    x, dy = rng_arrays(shape, shape, seed=11)
    gamma, beta = rng_arrays(shape[axis:], shape[axis:], seed=12)
    x64, g64, b64 = (a.astype(np.float64) for a in (x, gamma, beta))
    axes = tuple(range(axis, len(shape)))
    mean = x64.mean(axis=axes)
    inv = 1 / np.sqrt(x64.var(axis=axes) + 1e-5)
    dx, dgamma, dbeta = wasmops.layer_norm_backward(x, dy, gamma, mean.astype(np.float32), inv.astype(np.float32), axis)
    close(dx, numeric_grad(lambda v: _layer_norm(v, g64, b64, axis), x, dy))
    close(dgamma, numeric_grad(lambda v: _layer_norm(x64, v, b64, axis), gamma, dy))
    close(dbeta, numeric_grad(lambda v: _layer_norm(x64, g64, v, axis), beta, dy))


def test_batch_norm_train_follows_mindspore():
    """Output, moving mean and moving variance against MindSpore's own nn.BatchNorm2d in training mode
    (its momentum convention and its unbiased running variance)."""
    ms = pytest.importorskip("mindspore", reason="the MindSpore comparison needs the [mindspore] extra")
    from mindspore import Tensor, nn

    ms.set_device("CPU")
    x, gamma, beta, rm = rng_arrays((4, 3, 5, 5), (3,), (3,), (3,), seed=13)
    rv = np.abs(rng_arrays((3,), seed=14)[0]) + 0.5
    bn = nn.BatchNorm2d(3, momentum=0.8, eps=1e-4, gamma_init=Tensor(gamma), beta_init=Tensor(beta),
                        moving_mean_init=Tensor(rm), moving_var_init=Tensor(rv))  # fmt: skip
    bn.set_train(True)
    want = bn(Tensor(x)).asnumpy()
    y, _, _, new_rm, new_rv = wasmops.batch_norm_train(x, gamma, beta, rm, rv, momentum=0.8, eps=1e-4)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new_rm, bn.moving_mean.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_rv, bn.moving_variance.asnumpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_train_refuses_one_value_per_channel():
    one = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="batch_norm_train: x .* at least 2"):
        wasmops.batch_norm_train(np.ones((1, 3), np.float32), one, one, one, one)


def _f32(*shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


PARALLEL = [
    ("conv2d_backward_weight", (_f32(2, 8, 9, 9), _f32(2, 12, 9, 9), (12, 8, 3, 3)), {"pads": 1}),
    (
        "conv2d_backward_weight",
        (_f32(1, 24, 11, 13), _f32(1, 24, 6, 7), (24, 1, 3, 3)),
        {"strides": 2, "pads": 1, "groups": 24},
    ),
    (
        "conv2d_backward_data",
        (_f32(1, 12, 6, 6), _f32(12, 4, 3, 3), (1, 8, 11, 11)),
        {"strides": 2, "pads": 1, "groups": 2, "gemm": True},
    ),
    ("max_pool2d_backward", (_f32(2, 5, 9, 9), _f32(2, 5, 4, 4), 3, 2), {}),
    ("batch_norm_backward", (_f32(4, 6, 5, 5), _f32(4, 6, 5, 5), _f32(6), _f32(6), np.ones(6, np.float32)), {}),
]


@pytest.mark.parametrize("case", PARALLEL, ids=[f"{c[0]}-{i}" for i, c in enumerate(PARALLEL)])
def test_parallel_kernels_identical_for_any_thread_count(case):
    """Kernels with parallel loops: bit-identical results on 1, 2 and 3 threads (each output element is
    reduced by one thread in a fixed order)."""
    name, args, attrs = case
    before = wasmops.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            wasmops.set_num_threads(n)
            out = getattr(wasmops, name)(*args, **attrs)
            outs.append(out if isinstance(out, tuple) else (out,))
    finally:
        wasmops.set_num_threads(before)
    for out in outs[1:]:
        for a, b in zip(outs[0], out, strict=True):
            assert np.array_equal(a, b), f"{name} differs between thread counts"


def _random_geometries(count: int, seed: int = 21):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        g = int(rng.choice([1, 1, 2, 3]))
        cg, kg = (
            (1, int(rng.integers(1, 3))) if rng.random() < 0.25 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        )
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        s, d = tuple(int(v) for v in rng.integers(1, 4, 2)), tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(v) for v in rng.integers(0, 3, 4))
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        if (h + p[0] + p[2] - d[0] * (kh - 1) - 1) < 0 or (w + p[1] + p[3] - d[1] * (kw - 1) - 1) < 0:
            continue
        out.append(((2, cg * g, h, w), (kg * g, cg, kh, kw), s, p, d, g))
    return out


@pytest.mark.parametrize("xs,ws,s,p,d,g", _random_geometries(24))
def test_conv2d_gradients_are_the_adjoints_of_conv2d(xs, ws, s, p, d, g):
    """<conv2d(x, w), dy> = <x, dx> = <w, dw> for random geometries (odd kernels, strides, dilations,
    asymmetric pads, groups, depthwise), with conv2d's own reference as the forward: both dx paths."""
    x, w = rng_arrays(xs, ws, seed=22)
    conv = _conv(x.astype(np.float64), w.astype(np.float64), s, p, d, g)
    (dy,) = rng_arrays(conv.shape, seed=23)
    total = np.sum(conv * dy)
    geo = {"strides": s, "pads": p, "dilations": d, "groups": g}
    scale = np.sum(np.abs(conv * dy)) + 1
    dw = wasmops.conv2d_backward_weight(x, dy, ws, **geo).astype(np.float64)
    assert abs(np.sum(w * dw) - total) < 1e-5 * scale
    for gemm in (False, True):
        dx = wasmops.conv2d_backward_data(dy, w, xs, **geo, gemm=gemm).astype(np.float64)
        assert abs(np.sum(x * dx) - total) < 1e-5 * scale, f"dx (gemm={gemm})"

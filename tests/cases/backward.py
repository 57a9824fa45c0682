"""Training ops (issue 17): activation / softmax gradients, the softmax cross-entropy, dense gradients and
optimiser updates, at odd lengths around the 16-lane width, empty and size-1 tensors and real layer shapes
(LeNet / ResNet classifiers, BERT rows). References are float64 numpy; finite-difference checks of the same
kernels are in tests/test_backward_ops.py.
"""

import numpy as np

from . import Case, rand


def _sigmoid(x):
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)


CASES = []
for i, shape in enumerate([(7,), (16,), (3, 37), (2, 64, 14, 14), (0, 5), (1,)]):
    x, dy = rand(*shape, seed=i), rand(*shape, seed=100 + i)
    tag = "x".join(map(str, shape))
    CASES += [Case(op, (x, dy), id=tag) for op in ("relu_grad", "gelu_grad", "silu_grad")]
    # the fast tanh: a few ulps, times |x|, where 0.5 (1 + t) and the x (1 - t²) term cancel, and t = -1
    # exactly below x ~ -4.9 (as the forward gelu_tanh): absolute errors up to 2.4e-6
    CASES.append(Case("gelu_tanh_grad", (x, dy), atol=1e-5, id=tag))
    CASES += [Case("sigmoid_grad", (_sigmoid(x), dy), id=tag), Case("tanh_grad", (np.tanh(x), dy), id=tag)]
# gelu / silu near saturation: the gradient tends to 0 / 1 (silu's overshoot near x = -1.28 / 2.4 too).
# silu's sigmoid is the forward's 0.5 + 0.5 tanh(x / 2), which is 0 below x ~ -16 (as the forward's silu):
# an absolute error up to 1.2e-6 there
_wide = np.linspace(-20, 20, 401, dtype=np.float32)
CASES += [
    Case("gelu_grad", (_wide, np.ones_like(_wide)), atol=1e-6, id="wide"),
    Case("gelu_tanh_grad", (_wide, np.ones_like(_wide)), atol=1e-5, id="wide"),
    Case("silu_grad", (_wide, np.ones_like(_wide)), atol=2e-6, id="wide"),
]


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


for i, (shape, axis) in enumerate([((7,), -1), ((3, 16), -1), ((5, 33), 0), ((4, 17, 9), 1), ((8, 12, 128), -1)]):
    x, dy = rand(*shape, seed=i), rand(*shape, seed=50 + i)
    y = _softmax(x.astype(np.float64), axis)
    tag = f"{shape}-axis{axis}"
    CASES += [
        Case("softmax_grad", (y, dy), {"axis": axis}, id=tag),
        Case("log_softmax_grad", (np.log(y).astype(np.float32), dy), {"axis": axis}, rtol=1e-5, atol=1e-5, id=tag),
    ]

for i, (n, c) in enumerate([(1, 1), (3, 10), (32, 10), (5, 37), (8, 1000)]):
    logits = rand(n, c, seed=i, low=-8, high=8)
    labels = np.random.default_rng(i).integers(0, c, n).astype(np.int32)
    soft = _softmax(rand(n, c, seed=30 + i), 1)  # distributions, not one-hot
    CASES += [
        Case("softmax_cross_entropy", (logits, labels), rtol=1e-5, atol=1e-5, id=f"sparse-{n}x{c}"),
        Case("softmax_cross_entropy", (logits, soft), rtol=1e-5, atol=1e-5, id=f"dense-{n}x{c}"),
    ]
CASES.append(
    Case("softmax_cross_entropy", (rand(4, 10, low=-1e4, high=1e4), np.arange(4, dtype=np.int32)), id="large-logits")
)

for i, (lead, fin, fout) in enumerate([((1,), 16, 10), ((32,), 84, 10), ((2, 3), 37, 5), ((128,), 768, 64)]):
    x, w, dy = rand(*lead, fin, seed=i), rand(fout, fin, seed=10 + i), rand(*lead, fout, seed=20 + i)
    tag = f"{lead}-{fin}->{fout}"
    CASES += [
        Case("dense_backward_data", (dy, w), rtol=1e-5, atol=1e-4, id=tag),
        Case("dense_backward_weight", (dy, x), rtol=1e-5, atol=1e-4, id=tag),
        Case("bias_grad", (dy,), {"axis": -1}, rtol=1e-5, atol=1e-4, id=tag),
    ]
CASES += [
    Case("bias_grad", (rand(8, 64, 14, 14),), {"axis": 1}, rtol=1e-5, atol=1e-4, id="conv-nchw"),
    Case("bias_grad", (rand(7),), {"axis": 0}, id="1d"),
]

for i, shape in enumerate([(5,), (16,), (6, 5, 3, 3), (120, 400), (0,)]):
    w, g, v = rand(*shape, seed=i), rand(*shape, seed=40 + i), rand(*shape, seed=80 + i)
    m, v2 = rand(*shape, seed=60 + i, low=-0.1, high=0.1), rand(*shape, seed=70 + i, low=0, high=0.1)
    tag = "x".join(map(str, shape))
    CASES += [
        Case("sgd_update", (w, g, 0.1), id=f"plain-{tag}"),
        Case("sgd_update", (w, g, 0.05), {"weight_decay": 1e-4}, id=f"decay-{tag}"),
        Case("sgd_update", (w, g, 0.1), {"momentum": 0.9, "velocity": v}, id=f"momentum-{tag}"),
        Case("sgd_update", (w, g, 0.1), {"momentum": 0.9}, id=f"first-step-{tag}"),
        Case("sgd_update", (w, g, 0.1), {"momentum": 0.9, "velocity": v, "nesterov": True}, id=f"nesterov-{tag}"),
        Case("adam_update", (w, g, m, v2, 1e-3), {"step": 1}, rtol=1e-5, atol=1e-6, id=f"step1-{tag}"),
        Case(
            "adam_update",
            (w, g, m, v2, 1e-2),
            {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "step": 50},
            rtol=1e-5,
            atol=1e-6,
            id=f"step50-{tag}",
        ),
    ]

# fuzz finds (issue 14), each failed on the code before its fix:
# gelu_tanh_grad: from |x| ~ 5e19 the float32 du = c (1 + 3k x²) overflowed and 0 * inf gave NaN, not dy or 0
_huge = np.array([1e20, -1e20, 6e19, -3.4e38, 3.4e38, 2.0, -2.0], np.float32)
CASES.append(Case("gelu_tanh_grad", (_huge, rand(7, seed=3)), atol=1e-5, id="huge-x"))
# softmax_cross_entropy: the loss was (max + log se) - logit, whose log se rounds away next to large logits
# (1e6 + j: ulp 0.0625); it is now (max - logit) + log se
_big = (1e6 + np.arange(40, dtype=np.float32) % 10).reshape(4, 10)
CASES += [
    Case("softmax_cross_entropy", (_big, np.array([9, 0, 3, 5], np.int32)), id="large-logit-gaps-sparse"),
    Case("softmax_cross_entropy", (_big, _softmax(rand(4, 10, seed=4), 1)), atol=1e-5, id="large-logit-gaps-dense"),
]
# sgd_update with momentum, no nesterov: the step was vel + 0 * (...), NaN for an inf gradient, not -inf
_g = rand(6, seed=5)
_g[[1, 4]] = [np.inf, -np.inf]
CASES.append(Case("sgd_update", (rand(6), _g, 0.1), {"momentum": 0.9, "velocity": rand(6, seed=6)}, id="inf-grad"))
# adam_update: 1 - beta2 was rounded in float32 (1 - float32(0.999) is 4.7e-5 off), now it comes from the host
CASES.append(
    Case("adam_update", (rand(64), rand(64, seed=7), np.zeros(64, np.float32), np.zeros(64, np.float32), 1e-3),
         {"beta2": 0.999, "step": 3}, rtol=1e-5, atol=1e-7, id="one-minus-beta2")
)  # fmt: skip

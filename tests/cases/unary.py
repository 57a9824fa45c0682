"""Unary elementwise ops: odd sizes (not a multiple of the 16-wide vector loop), size-1 and empty tensors."""

import numpy as np

from . import Case, rand

SHAPES = [(1,), (7,), (16,), (1003,), (2, 3, 5), (1, 64, 56, 56), (0, 4)]
FLOAT_OPS = ["relu", "sigmoid", "tanh", "gelu", "silu", "exp", "neg", "abs", "relu6"]
CASES = [Case(op, (rand(*s, seed=i),), id=f"{s}") for op in FLOAT_OPS for i, s in enumerate(SHAPES)]
CASES += [
    Case(op, (rand(*s, dtype="int32", seed=i, low=-100, high=100),), id=f"i32{s}")
    for op in ("relu", "neg", "abs")
    for i, s in enumerate(SHAPES)
]
CASES += [Case("log", (rand(*s, seed=i, low=1e-6, high=50.0),), id=f"{s}") for i, s in enumerate(SHAPES)]
CASES += [Case("sqrt", (rand(*s, seed=i, low=0.0, high=50.0),), id=f"{s}") for i, s in enumerate(SHAPES)]
CASES += [
    Case("exp", (rand(1000, low=-80, high=80),), rtol=5e-6, atol=0, id="wide-range"),
    Case("tanh", (rand(1000, low=-12, high=12),), id="saturating"),
    Case("sigmoid", (rand(1000, low=-30, high=30),), id="saturating"),
    # the small tail to relative accuracy: 0.5 + 0.5 * tanh(x / 2) gave sigmoid(-20) = 0 and silu(-13.6) 6 %
    # off (a fuzz find); atol 0, so only the relative tolerance holds
    Case("sigmoid", (rand(1000, low=-100, high=-8),), rtol=1e-6, atol=0, id="small-tail"),
    Case("silu", (rand(1000, low=-80, high=-8),), rtol=2e-6, atol=0, id="small-tail"),
    Case("clip", (rand(5, 7),), {"min": -1.0, "max": 0.5}),
    Case("clip", (rand(33),), {"min": 0.0, "max": 0.0}, id="empty-range"),
    Case("leaky_relu", (rand(4, 9),), {"alpha": 0.01}),
    Case("leaky_relu", (rand(17),), {"alpha": 0.3}, id="alpha0.3"),
    Case("elu", (rand(1003, low=-20, high=5),), {"alpha": 1.0}),
    Case("elu", (rand(3, 7),), {"alpha": 0.5}, id="alpha0.5"),
    Case("selu", (rand(65, low=-10, high=10),), {"alpha": 1.6732632, "gamma": 1.0507010}),
    # small negatives: exp(x) - 1 kept ~3 digits of selu(-0.0017) (a fuzz find); expm1 keeps them all
    Case(
        "selu",
        (-np.geomspace(1e-6, 0.3, 40).astype(np.float32),),
        {"alpha": 1.6732632, "gamma": 1.0507010},
        id="small-negatives",
    ),  # fmt: skip
    Case("elu", (-np.geomspace(1e-6, 0.3, 40).astype(np.float32),), {"alpha": 1.0}, id="small-negatives"),
    Case("softplus", (rand(1003, low=-100, high=100),), id="wide-range"),
    Case("softplus", (rand(2, 9, low=-2, high=2),)),
]

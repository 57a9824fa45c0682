"""The ONNX spec's activation functions for LSTM / GRU / RNN, as data shared by both paths that unroll them
(the whole-graph rewrite, kernels/onnx_recurrent.py, and the op-by-op translation, registry/onnx_recurrent.py).
Imports nothing.
"""

#: activation (lower case) -> (uses alpha, uses beta, default alpha, default beta); None: no default, must be
#: given. activation_alpha / activation_beta values are consumed in order by the functions that take them.
RECURRENT_ACTIVATIONS = {
    "relu": (False, False, None, None),
    "tanh": (False, False, None, None),
    "sigmoid": (False, False, None, None),
    "softsign": (False, False, None, None),
    "softplus": (False, False, None, None),
    "leakyrelu": (True, False, 0.01, None),
    "thresholdedrelu": (True, False, 1.0, None),
    "elu": (True, False, 1.0, None),
    "hardsigmoid": (True, True, 0.2, 0.5),
    "affine": (True, True, None, None),
    "scaledtanh": (True, True, None, None),
}

__all__ = ["RECURRENT_ACTIVATIONS"]

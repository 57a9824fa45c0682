"""MindSpore optimisers whose updates run on the wasm update kernels (sgd_update, adam_update).

WasmSGD follows nn.SGD / nn.Momentum (v = momentum v + g, w -= lr v; nesterov; weight decay), WasmAdam
nn.Adam (bias corrections folded into the step's rate, eps added to sqrt(v)). They are Cells called with
the gradients value_and_grad returns, like MindSpore's optimisers; each parameter's update is one Custom
op (registry/mindspore_train_optim.py) whose rows are assigned back to the Parameter and its state.
"""

from __future__ import annotations

from mindspore import Parameter, ParameterTuple, Tensor, nn, ops
from mindspore.common import dtype as mstype

from ..registry import mindspore_train_optim  # noqa: F401 - registers the update translators
from .mindspore_backend import get_backend
from .mindspore_train import runtime_custom


class _Plain(nn.Cell):
    def __init__(self, op):
        super().__init__(auto_prefix=False)
        self.op = op

    def construct(self, w, g):
        return ops.assign(w, self.op(w, g)[0])


class _WithVelocity(_Plain):
    def construct(self, w, g, v):
        new = self.op(w, g, v)
        ops.assign(v, new[1])
        return ops.assign(w, new[0])


class _Adam(_Plain):
    def construct(self, w, g, m, v, rate):
        new = self.op(w, g, m, v, rate)
        ops.assign(m, new[1])
        ops.assign(v, new[2])
        return ops.assign(w, new[0])


class WasmSGD(nn.Cell):
    """SGD with optional momentum / nesterov / weight decay on the sgd_update kernel."""

    def __init__(self, params, learning_rate: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False, backend: str = "pyfunc"):  # fmt: skip
        super().__init__(auto_prefix=False)
        be = get_backend(backend)
        self.parameters = ParameterTuple(params)
        attrs = {"lr": learning_rate, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov}
        self.use_velocity = momentum > 0
        cls = _WithVelocity if self.use_velocity else _Plain
        arity = 3 if momentum else 2
        self.updates = nn.CellList(
            [cls(runtime_custom(be, f"sgd {p.name}", "optim.SGD", attrs, arity)) for p in self.parameters]
        )
        if self.use_velocity:
            self.velocity = self.parameters.clone(prefix="wasm_velocity", init="zeros")

    def construct(self, grads):
        for i in range(len(self.updates)):
            if self.use_velocity:
                self.updates[i](self.parameters[i], grads[i], self.velocity[i])
            else:
                self.updates[i](self.parameters[i], grads[i])
        return True


class WasmAdam(nn.Cell):
    """Adam (MindSpore nn.Adam's formula) on the adam_update kernel."""

    def __init__(self, params, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, backend: str = "pyfunc"):  # fmt: skip
        super().__init__(auto_prefix=False)
        be = get_backend(backend)
        self.parameters = ParameterTuple(params)
        attrs = {"beta1": beta1, "beta2": beta2, "eps": eps}
        self.updates = nn.CellList(
            [_Adam(runtime_custom(be, f"adam {p.name}", "optim.Adam", attrs, 5)) for p in self.parameters]
        )
        self.moment1 = self.parameters.clone(prefix="wasm_moment1", init="zeros")
        self.moment2 = self.parameters.clone(prefix="wasm_moment2", init="zeros")
        self.beta1_power = Parameter(Tensor(1.0, mstype.float32), name="wasm_beta1_power", requires_grad=False)
        self.beta2_power = Parameter(Tensor(1.0, mstype.float32), name="wasm_beta2_power", requires_grad=False)
        self.lr, self.beta1, self.beta2 = learning_rate, beta1, beta2

    def construct(self, grads):
        b1 = ops.assign(self.beta1_power, self.beta1_power * self.beta1)
        b2 = ops.assign(self.beta2_power, self.beta2_power * self.beta2)
        rate = self.lr * ops.sqrt(1.0 - b2) / (1.0 - b1)
        for i in range(len(self.updates)):
            self.updates[i](self.parameters[i], grads[i], self.moment1[i], self.moment2[i], rate)
        return True

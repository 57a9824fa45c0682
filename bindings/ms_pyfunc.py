"""The functions MindSpore's pyfunc Custom ops call: one method per input count.

MindSpore reads a pyfunc's source with `inspect` and takes its input count from its signature (a
`*args` function is refused), so each arity is a real method defined in this file. Each Custom op gets
a bound method of its own Runner, so MindSpore's function-id registry tells the ops apart. That
registry never forgets a function, so a Runner holds its op weakly: the op (and the wasm memory of its
programs) goes when the Custom op that owns it goes. But PyNative runs ops asynchronously: in
`to_wasm(net)(x)` the wrapper is gone before MindSpore calls the Runner, so an op is also held strongly
from when it is built until it first runs (a bounded set: older ones are left to their owners).
"""

from __future__ import annotations

import collections
import threading
import weakref

import numpy as np

MAX_INPUTS = 8
_RECENT_KEPT = 64  # ops built but not yet run, held for the queued PyNative calls that will run them
_recent: collections.OrderedDict[int, object] = collections.OrderedDict()
_recent_lock = threading.Lock()


def _keep(op) -> None:
    with _recent_lock:
        _recent[id(op)] = op
        _recent.move_to_end(id(op))
        while len(_recent) > _RECENT_KEPT:
            _recent.popitem(last=False)


class Runner:
    """Runs one wasm op for a pyfunc Custom: finds the program built at shape inference, feeds it."""

    def __init__(self, op, baked: dict[int, np.ndarray], total: int):
        self.op = weakref.ref(op)  # bindings.mindspore_backend.WasmOp, owned by the Custom op
        _keep(op)
        self.baked = baked  # position -> constant folded into the program (PyNative call-site values)
        self.total = total

    def run(self, *arrays: np.ndarray) -> np.ndarray:
        it = iter(arrays)
        values = [self.baked[i] if i in self.baked else next(it) for i in range(self.total)]
        op = self.op()
        if op is None:
            raise RuntimeError(f"this wasm Custom op was released ({_RECENT_KEPT} newer ops were built since)")
        try:
            return op.run(values)
        finally:
            with _recent_lock:
                _recent.pop(id(op), None)  # it ran: its owner decides its life from now on

    def call1(self, a):
        return self.run(a)

    def call2(self, a, b):
        return self.run(a, b)

    def call3(self, a, b, c):
        return self.run(a, b, c)

    def call4(self, a, b, c, d):
        return self.run(a, b, c, d)

    def call5(self, a, b, c, d, e):
        return self.run(a, b, c, d, e)

    def call6(self, a, b, c, d, e, f):
        return self.run(a, b, c, d, e, f)

    def call7(self, a, b, c, d, e, f, g):
        return self.run(a, b, c, d, e, f, g)

    def call8(self, a, b, c, d, e, f, g, h):
        return self.run(a, b, c, d, e, f, g, h)
